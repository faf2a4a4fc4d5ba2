"""A GAN on 2-D points: the adversarial game of eqs. (1)-(4) on data small enough to plot (Chapter 2).

The generator maps z, uniform in [-1, 1]^2 (the paper's prior, in 2 dimensions), through a small
multilayer perceptron to a point in the plane; the discriminator maps a point to one logit. The losses
are the package's own :func:`~histogan_lite.training.discriminator_loss` (eq. 1) and
:func:`~histogan_lite.training.generator_loss` (eq. 4, or the saturating eq. 2), so what trains here in
seconds is the same game the DCGAN plays on images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from .sampling import sample_z
from .losses import discriminator_loss, generator_loss
from .utils import check_int, check_lr, check_real_label

__all__ = ["ring_data", "ToyGenerator", "ToyDiscriminator", "ToyResult", "train_toy_gan", "toy_gan_step"]


def ring_data(n: int, modes: int = 8, radius: float = 2.0, std: float = 0.05, seed: int = 0) -> torch.Tensor:
    """Points from ``modes`` Gaussians evenly spaced on a circle (a standard test of mode coverage).

    Args:
        n: number of points (>= 1).
        modes: number of Gaussians (>= 1).
        radius: radius of the circle.
        std: standard deviation of each Gaussian.
        seed: seed of the draw.

    Returns:
        float32 tensor ``(n, 2)``; point ``i`` belongs to mode ``i % modes``.

    Raises:
        ValueError: for non-positive ``n``, ``modes``, ``radius`` or negative ``std``.
    """
    if n < 1 or modes < 1 or radius <= 0 or std < 0:
        raise ValueError(f"need n >= 1, modes >= 1, radius > 0, std >= 0; got {n}, {modes}, {radius}, {std}")
    gen = torch.Generator().manual_seed(seed)
    angle = 2 * np.pi * (torch.arange(n) % modes).float() / modes
    centres = radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    return centres + std * torch.randn(n, 2, generator=gen)


class ToyGenerator(nn.Module):
    """G for 2-D points: z ``(N, latent_dim)`` in [-1, 1] -> points ``(N, 2)`` (two hidden ReLU layers)."""

    def __init__(self, latent_dim: int = 2, hidden: int = 64):
        super().__init__()
        self.latent_dim = latent_dim
        self.net = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, 2))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class ToyDiscriminator(nn.Module):
    """D for 2-D points: ``(N, 2)`` -> logits ``(N,)`` (two hidden LeakyReLU(0.2) layers)."""

    def __init__(self, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


@dataclass
class ToyResult:
    """What :func:`train_toy_gan` returns.

    Attributes:
        G, D: the trained models.
        history: one row per step: ``step, loss_d, loss_g, d_real, d_fake`` (D's mean probabilities).
        snapshots: list of ``(step, points)``, float32 numpy ``(n_snapshot, 2)`` generated from a fixed z.
    """

    G: ToyGenerator
    D: ToyDiscriminator
    history: pd.DataFrame
    snapshots: list


def train_toy_gan(
    data: torch.Tensor,
    steps: int = 1000,
    *,
    batch_size: int = 256,
    lr: float = 1e-3,
    generator_loss_kind: str = "non-saturating",
    g_steps: int = 1,
    real_label: float = 1.0,
    latent_dim: int = 2,
    hidden: int = 64,
    seed: int = 0,
    snapshot_every: int = 250,
    n_snapshot: int = 1000,
) -> ToyResult:
    """Train a GAN on 2-D points with eq. (1) for D and eq. (4) (or eq. 2) for G.

    Args:
        data: float tensor ``(N, 2)`` of real points (e.g. :func:`ring_data`).
        steps: training steps, each one D update then ``g_steps`` G updates.
        batch_size: real points (and generated points) per update.
        lr: Adam learning rate (betas 0.5, 0.999 as in the paper's DCGAN).
        generator_loss_kind: ``"non-saturating"`` (eq. 4) or ``"saturating"`` (eq. 2).
        g_steps: G updates per D update (the paper's DCGAN: 2).
        real_label: real target in eq. (1) (0.9: one-sided label smoothing).
        latent_dim, hidden: sizes of the networks.
        seed: seeds the weights and every draw.
        snapshot_every: keep generated points from a fixed z every this many steps (and at step 0).
        n_snapshot: number of points per snapshot.

    Returns:
        A :class:`ToyResult`.

    Raises:
        ValueError: for data that is not ``(N, 2)``, a bad loss kind, or a value that ``TrainConfig``
            would refuse (the same shared checks: ``steps``, ``batch_size``, ``g_steps``, ``latent_dim``,
            ``hidden``, ``lr``, ``real_label``), naming the argument.
    """
    if not isinstance(data, torch.Tensor) or data.ndim != 2 or data.shape[1] != 2:
        raise ValueError(f"data must be a float tensor (N, 2) of points, got {getattr(data, 'shape', type(data))}")
    generator_loss(torch.zeros(1), generator_loss_kind)  # validates the kind
    check_real_label(real_label)
    check_lr(lr)
    check_int(steps, "steps", minimum=0)
    for name, value in (("batch_size", batch_size), ("g_steps", g_steps), ("latent_dim", latent_dim),
                        ("hidden", hidden), ("n_snapshot", n_snapshot)):
        check_int(value, name)
    check_int(snapshot_every, "snapshot_every", minimum=0)
    torch.manual_seed(seed)
    G, D = ToyGenerator(latent_dim, hidden), ToyDiscriminator(hidden)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
    gen = torch.Generator().manual_seed(seed)
    fixed_z = sample_z(n_snapshot, latent_dim, seed=seed + 1)
    data = data.float()
    rows, snapshots = [], []
    for step in range(steps + 1):
        if snapshot_every and step % snapshot_every == 0:
            with torch.no_grad():
                snapshots.append((step, G(fixed_z).numpy()))
        if step == steps:
            break
        real = data[torch.randint(0, len(data), (batch_size,), generator=gen)]
        rows.append({"step": step, **toy_gan_step(G, D, opt_d, opt_g, real, gen, generator_loss_kind=generator_loss_kind,
                                                  g_steps=g_steps, real_label=real_label)})
    return ToyResult(G, D, pd.DataFrame(rows), snapshots)


def toy_gan_step(G: ToyGenerator, D: ToyDiscriminator, opt_d, opt_g, real: torch.Tensor, gen: torch.Generator, *,
                 generator_loss_kind: str = "non-saturating", g_steps: int = 1, real_label: float = 1.0) -> dict:
    """One training step of the 2-D GAN: a D update with eq. (1), then ``g_steps`` G updates with eq. (4).

    Args:
        G, D: the toy networks; opt_d, opt_g: their optimizers.
        real: float ``(B, 2)`` real points; the same number of z is drawn from ``gen`` for each update.
        gen: the ``torch.Generator`` of every draw of z.
        generator_loss_kind, g_steps, real_label: as for :func:`train_toy_gan`.

    Returns:
        ``{"loss_d", "loss_g", "d_real", "d_fake"}``: the losses of the last D and G updates and D's mean
        probability "real" on the real and generated batch of the D update.
    """
    z = sample_z(len(real), G.latent_dim, generator=gen)
    logit_real, logit_fake = D(real), D(G(z).detach())
    loss_d = discriminator_loss(logit_real, logit_fake, real_label)  # eq. (1)
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    for _ in range(g_steps):
        z = sample_z(len(real), G.latent_dim, generator=gen)
        loss_g = generator_loss(D(G(z)), generator_loss_kind)  # eq. (4) or eq. (2)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
    return {"loss_d": float(loss_d.detach()), "loss_g": float(loss_g.detach()),
            "d_real": float(torch.sigmoid(logit_real.detach()).mean()),
            "d_fake": float(torch.sigmoid(logit_fake.detach()).mean())}
