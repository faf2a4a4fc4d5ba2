"""Latent-space operations (paper section 3.2): reverse search, arithmetic, class inversion, interpolation.

A trained generator G maps each latent vector z in Z = R^100 (prior: uniform on [-1, 1]) to an image, so
operations on vectors become operations on images:

* :func:`reverse_search` (3.2.1) finds the z of a given image by gradient descent on the RMSE;
  :func:`train_encoder` / :func:`encode` (not in the paper) give it a better start.
* :func:`add`, :func:`subtract`, :func:`mean_z`, :func:`arithmetic`, :func:`attribute_vector`,
  :func:`apply_attribute` (3.2.2) combine vectors and their means.
* :func:`invert_class` (3.2.3) keeps z and swaps the cDCGAN's class.
* :func:`interpolate` (3.2.4, eq. 5), :func:`interpolation_paths`, :func:`interpolate_classes` walk
  between points.
* The image judges that score an edit (:func:`psnr`, :func:`edit_preservation`, :func:`clear_space`,
  :func:`fit_lumen_detector`) live in :mod:`histogan_lite.judges` and are re-exported here.

Images are float tensors ``(N, 3, H, W)`` in ``[-1, 1]``; latent vectors are float ``(N, latent_dim)``.
Functions return CPU tensors and accept a generator on any device.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .judges import (  # noqa: F401 (re-exported: the image judges used to live here)
    LumenDetector, _psnr_from_mse, clear_space, edit_preservation, fit_lumen_detector, psnr)
from .utils import as_image_tensor, check_labels
from .utils import progress as _progress

__all__ = [
    "sample_z",
    "generate",
    "psnr",
    "ReverseSearchResult",
    "reverse_search",
    "search_z",
    "LatentEncoder",
    "train_encoder",
    "encode",
    "add",
    "subtract",
    "mean_z",
    "arithmetic",
    "attribute_vector",
    "attribute_vector_from_images",
    "apply_attribute",
    "other_labels",
    "invert_class",
    "class_vectors",
    "generate_with_class_vector",
    "interpolate",
    "interpolate_at",
    "interpolation_paths",
    "interpolate_classes",
    "edit_preservation",
    "clear_space",
    "LumenDetector",
    "fit_lumen_detector",
]


def sample_z(
    n: int,
    latent_dim: int = 100,
    seed: int | None = None,
    device: str | torch.device | None = None,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw latent vectors z from the paper's prior, uniform in [-1, 1] (section 3.1).

    Args:
        n: number of vectors (>= 1).
        latent_dim: dimension of the latent space Z = R^latent_dim (the paper uses 100).
        seed: when given, a private ``torch.Generator`` seeded with it is used, so the same seed gives
            the same vectors whatever the global RNG state; when ``None`` the global torch RNG is used
            (seed it with ``hl.seed_everything``).
        device: where the returned tensor lives (default CPU). Sampling always happens on the CPU so
            a seed gives the same z on every device.
        generator: draw from this ``torch.Generator`` instead (a training loop's own stream of draws), on
            the generator's device; ``seed`` must then be ``None``.

    Returns:
        ``torch.float32`` tensor of shape ``(n, latent_dim)`` with values in ``[-1, 1)``.

    Raises:
        ValueError: if ``n`` or ``latent_dim`` is not a positive integer, ``seed`` is negative, or both
            ``seed`` and ``generator`` are given.
    """
    for name, value in (("n", n), ("latent_dim", latent_dim)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63):
        raise ValueError(f"seed must be None or a non-negative integer, got {seed!r}")
    if seed is not None and generator is not None:
        raise ValueError("pass seed or generator, not both")
    gen = generator
    if seed is not None:
        gen = torch.Generator()
        gen.manual_seed(seed)
    where = gen.device if gen is not None else None
    z = torch.rand(n, latent_dim, generator=gen, dtype=torch.float32, device=where) * 2.0 - 1.0  # U(0,1) -> U(-1,1)
    return z if device is None else z.to(device)


# ----------------------------------------------------------------------------------------------------
# Checks shared by the operations below
# ----------------------------------------------------------------------------------------------------


def _check_generator(generator) -> None:
    missing = [a for a in ("latent_dim", "image_size", "n_classes") if not hasattr(generator, a)]
    if not isinstance(generator, nn.Module) or missing:
        raise TypeError(
            "generator must be a histogan_lite.models.Generator (an nn.Module with latent_dim, image_size and "
            f"n_classes), got {type(generator).__name__}"
        )


def _device_of(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


def _check_z(z, latent_dim: int, name: str = "z", allow_vector: bool = False) -> torch.Tensor:
    if isinstance(z, np.ndarray):
        z = torch.from_numpy(z)
    if not isinstance(z, torch.Tensor) or not z.is_floating_point():
        got = f"dtype {z.dtype}" if isinstance(z, torch.Tensor) else type(z).__name__
        raise TypeError(f"{name} must be a float tensor (N, {latent_dim}), got {got}")
    if allow_vector and z.ndim == 1:
        z = z[None]
    if z.ndim != 2 or z.shape[1] != latent_dim:
        raise ValueError(f"{name} must have shape (N, {latent_dim}), got {tuple(z.shape)}")
    if not torch.isfinite(z).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return z.detach().float()


def _check_labels(generator, labels, n: int, name: str = "labels") -> torch.Tensor | None:
    """Labels as an int64 CPU tensor (N,), or None for a DCGAN; clear errors otherwise."""
    n_classes = generator.n_classes
    if not n_classes:
        if labels is not None:
            raise ValueError(
                f"{name} given, but the generator is a DCGAN (n_classes=0) and takes no class; "
                "pass labels=None, or use a cDCGAN generator"
            )
        return None
    if labels is None:
        raise ValueError(
            f"the generator is a cDCGAN with {n_classes} classes: pass {name}, an int64 tensor (N,) "
            f"with values in [0, {n_classes})"
        )
    if isinstance(labels, (int, np.integer)) and not isinstance(labels, bool):
        labels = np.full(n, int(labels))
    return torch.from_numpy(check_labels(labels, n, name, n_classes))


def generate(generator: nn.Module, z: torch.Tensor, labels=None, batch_size: int = 256) -> torch.Tensor:
    """Images G(z) (or G(z, labels)) in eval mode, without gradients.

    Args:
        generator: a :class:`histogan_lite.models.Generator`; its train/eval mode is restored after.
        z: float tensor ``(N, latent_dim)`` (a single vector ``(latent_dim,)`` counts as N = 1), any device.
        labels: cDCGAN only: int64 tensor ``(N,)`` in ``[0, n_classes)`` or one int for all.
        batch_size: images generated per forward pass.

    Returns:
        float32 CPU tensor ``(N, 3, S, S)`` in ``[-1, 1]``, S = ``generator.image_size``.

    Raises:
        TypeError / ValueError: for a wrong generator, z of the wrong shape, missing or out-of-range labels,
            or labels given to a DCGAN.
    """
    _check_generator(generator)
    z = _check_z(z, generator.latent_dim, allow_vector=True)
    labels = _check_labels(generator, labels, z.shape[0])
    dev = _device_of(generator)
    was_training = generator.training
    generator.eval()
    out = []
    try:
        with torch.no_grad():
            for i in range(0, z.shape[0], batch_size):
                zb = z[i : i + batch_size].to(dev)
                if labels is None:
                    out.append(generator(zb).float().cpu())
                else:
                    out.append(generator(zb, labels[i : i + batch_size].to(dev)).float().cpu())
    finally:
        generator.train(was_training)
    return torch.cat(out)


# ----------------------------------------------------------------------------------------------------
# Reverse search (paper 3.2.1)
# ----------------------------------------------------------------------------------------------------


@dataclass
class ReverseSearchResult:
    """What :func:`reverse_search` found, one row per target image (all tensors on the CPU).

    Attributes:
        z: float32 ``(N, latent_dim)`` in ``[-1, 1]``, the best latent vector found for each target.
        images: float32 ``(N, 3, S, S)`` in ``[-1, 1]``, the reconstructions ``G(z)``.
        rmse: float32 ``(N,)``, root-mean-square error between reconstruction and target in ``[-1, 1]`` units.
        psnr: float32 ``(N,)``, PSNR in dB with images mapped to ``[0, 1]`` (see :func:`psnr`).
        rmse_history: float32 ``(steps + 1, N)``, best RMSE so far (over restarts and steps): at the start,
            then after each step run.
        psnr_history: float32 ``(steps + 1, N)``, the same as PSNR in dB.
        restart: int64 ``(N,)``, which restart gave the best z (0 is the ``init`` start when one was given).
        labels: int64 ``(N,)`` for a cDCGAN, else ``None``.
        steps: gradient steps actually run (fewer than asked when the search stopped on a plateau).
        seconds: wall-clock time of the search.
    """

    z: torch.Tensor
    images: torch.Tensor
    rmse: torch.Tensor
    psnr: torch.Tensor
    rmse_history: torch.Tensor
    psnr_history: torch.Tensor
    restart: torch.Tensor
    labels: torch.Tensor | None
    steps: int
    seconds: float

    def steps_to(self, db: float) -> torch.Tensor:
        """Steps each image needed to reach ``db`` dB PSNR: int64 ``(N,)``, -1 where it never did."""
        reached = self.psnr_history >= db
        first = reached.float().argmax(0)
        return torch.where(reached.any(0), first, torch.full_like(first, -1)).long()


def reverse_search(
    generator: nn.Module,
    images,
    labels=None,
    *,
    steps: int = 400,
    restarts: int = 4,
    lr: float = 0.1,
    init: torch.Tensor | None = None,
    constraint: str = "clamp",
    patience: int = 40,
    tol: float = 1e-3,
    target_psnr: float | None = None,
    seed: int | None = None,
    progress: bool = True,
) -> ReverseSearchResult:
    """Find latent vectors z whose images G(z) match target images (paper 3.2.1).

    Gradient descent (Adam) on z minimises the root-mean-square error between ``G(z)`` and the target,
    the paper's objective, for the whole batch at once. Each target gets ``restarts`` independent starts,
    all run in one batch; the best z per target (lowest RMSE seen at any step of any restart) is kept.
    The generator runs in eval mode, so batch norm uses its running statistics and each image depends on
    its own z only; its weights are not changed (gradients are taken with respect to z alone).

    The prior is uniform on ``[-1, 1]^latent_dim``, and z is kept inside that support:
    ``constraint="clamp"`` (default) is projected gradient descent: after every step each coordinate is
    clamped back to ``[-1, 1]``; ``constraint="tanh"`` optimises an unconstrained ``w`` with
    ``z = tanh(w)`` (smooth, but its gradient vanishes near the faces of the cube).

    Args:
        generator: a :class:`histogan_lite.models.Generator` (DCGAN or cDCGAN), on any device.
        images: targets, float tensor ``(N, 3, S, S)`` in ``[-1, 1]`` with S = ``generator.image_size``
            (a numpy uint8 array ``(N, S, S, 3)`` in ``[0, 255]`` is converted).
        labels: cDCGAN only: int64 tensor ``(N,)`` in ``[0, n_classes)`` (or one int): the class each
            target is searched in. Must be ``None`` for a DCGAN.
        steps: maximum number of gradient steps.
        restarts: random starts per target (>= 1).
        lr: Adam learning rate, in latent units per step (the cube has side 2).
        init: optional float tensor ``(N, latent_dim)``, a start for restart 0 (for example an encoder's
            guess, :func:`encode`); it is clamped to ``[-1, 1]``. The other restarts start from the prior.
        constraint: ``"clamp"`` or ``"tanh"``, how z stays in ``[-1, 1]`` (see above).
        patience: early stop on a plateau: stop when no target's best RMSE has fallen by a relative
            ``tol`` within the last ``patience`` steps. ``None`` never stops early.
        tol: relative improvement that counts as progress (1e-3 = 0.1 %).
        target_psnr: also stop once every target has reached this PSNR in dB (``None``: never).
        seed: seed for the random starts (``None`` uses the global torch RNG).
        progress: show a progress bar (plain text when headless) with the mean PSNR.

    Returns:
        :class:`ReverseSearchResult` with ``z`` ``(N, latent_dim)``, ``images`` ``(N, 3, S, S)``, ``rmse``
        and ``psnr`` ``(N,)`` and their histories ``(steps + 1, N)``.

    Raises:
        TypeError: if the generator or the images are of the wrong type.
        ValueError: if the images have the wrong size or value range, if labels are missing for a
            cDCGAN, given for a DCGAN, or outside the classes, or if an argument is out of range.
    """
    _check_generator(generator)
    x = as_image_tensor(images, image_size=generator.image_size, allow_empty=False)
    n, dim = x.shape[0], generator.latent_dim
    labels = _check_labels(generator, labels, n)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if isinstance(restarts, bool) or not isinstance(restarts, int) or restarts < 1:
        raise ValueError(f"restarts must be a positive integer, got {restarts!r}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    if constraint not in ("clamp", "tanh"):
        raise ValueError(f"constraint must be 'clamp' or 'tanh', got {constraint!r}")
    if patience is not None and (isinstance(patience, bool) or not isinstance(patience, int) or patience < 1):
        raise ValueError(f"patience must be None or a positive integer, got {patience!r}")

    start = time.perf_counter()
    dev = _device_of(generator)
    z0 = sample_z(restarts * n, dim, seed=seed).view(restarts, n, dim)
    if init is not None:
        init = _check_z(init, dim, name="init")
        if init.shape[0] != n:
            raise ValueError(f"init must have one row per target image, shape ({n}, {dim}), got {tuple(init.shape)}")
        z0[0] = init.clamp(-1.0, 1.0)
    target = x.to(dev).repeat(restarts, 1, 1, 1)  # row r * n + i: restart r of target i
    lab = None if labels is None else labels.to(dev).repeat(restarts)
    best = _BestSoFar(restarts, n, dim, dev)
    was_training = generator.training
    generator.eval()
    bar = _progress(total=steps, desc="reverse search", disable=not progress, leave=False)
    try:
        steps_run = search_z(generator, target, lab, z0.view(restarts * n, dim).to(dev), best, bar, steps=steps, lr=lr,
                            constraint=constraint, patience=patience, tol=tol, target_psnr=target_psnr)
    finally:
        bar.close()
        generator.train(was_training)

    z_best = best.z.cpu()
    recon = generate(generator, z_best, labels)
    mse = ((recon - x) ** 2).flatten(1).mean(1)
    rmse_hist = torch.stack(best.history).cpu()
    return ReverseSearchResult(
        z=z_best,
        images=recon,
        rmse=mse.clamp_min(1e-12).sqrt(),
        psnr=_psnr_from_mse(mse),
        rmse_history=rmse_hist,
        psnr_history=_psnr_from_mse(rmse_hist**2),
        restart=best.restart.cpu(),
        labels=labels,
        steps=steps_run,
        seconds=time.perf_counter() - start,
    )


def search_z(generator, target, lab, z0, best: "_BestSoFar", bar, *, steps, lr, constraint, patience, tol,
            target_psnr) -> int:
    """The search core of :func:`reverse_search` (paper 3.2.1): Adam on z against the RMSE, z kept in [-1, 1].

    Returns the steps run. ``target`` ``(R * N, 3, S, S)`` holds restart r of target i in row ``r * N + i``, ``z0`` ``(R * N, D)``
    the starts, ``lab`` the classes (cDCGAN) or ``None``; ``best`` keeps the best z of each target; the
    generator is already in eval mode.
    """
    w = z0.clone() if constraint == "clamp" else torch.atanh(z0.clamp(-0.999, 0.999))
    w.requires_grad_(True)
    opt = torch.optim.Adam([w], lr=lr)

    def latent() -> torch.Tensor:
        return w if constraint == "clamp" else torch.tanh(w)  # z = tanh(w) stays inside the cube

    def rmse_of(z: torch.Tensor) -> torch.Tensor:
        out = generator(z) if lab is None else generator(z, lab)
        # the paper's objective: root-mean-square error between G(z) and the target image
        return ((out - target) ** 2).flatten(1).mean(1).clamp_min(1e-12).sqrt()

    steps_run = 0
    for step in range(steps):
        z = latent()
        rmse = rmse_of(z)
        best.record(z, rmse)  # before the update: the start, then the z each step produced
        (w.grad,) = torch.autograd.grad(rmse.sum(), [w])  # z only: the generator's weights stay untouched
        opt.step()
        if constraint == "clamp":
            with torch.no_grad():
                w.clamp_(-1.0, 1.0)  # projected gradient descent: back into the prior's support
        steps_run = step + 1
        bar.update(1)
        if best.done(step, bar, patience=patience, tol=tol, target_psnr=target_psnr):
            break
    with torch.no_grad():
        z = latent()
        best.record(z, rmse_of(z))  # the last step's z
    return steps_run


class _BestSoFar:
    """Bookkeeping of :func:`reverse_search`: the best z per target over restarts and steps, and the stop rules."""

    def __init__(self, restarts: int, n: int, dim: int, dev: torch.device):
        self.restarts, self.n, self.dim = restarts, n, dim
        self.rmse = torch.full((n,), float("inf"), device=dev)
        self.z = torch.zeros(n, dim, device=dev)
        self.restart = torch.zeros(n, dtype=torch.long, device=dev)
        self.ref_rmse = self.rmse.clone()  # best RMSE at the last real improvement, for the plateau test
        self.last_gain = torch.zeros(n, dtype=torch.long, device=dev)
        self.history: list[torch.Tensor] = []
        self.cols = torch.arange(n, device=dev)

    def record(self, z: torch.Tensor, rmse: torch.Tensor) -> None:
        value, which = rmse.detach().view(self.restarts, self.n).min(0)
        better = value < self.rmse
        self.rmse[better] = value[better]
        self.restart[better] = which[better]
        self.z[better] = z.detach().view(self.restarts, self.n, self.dim)[which, self.cols][better]
        self.history.append(self.rmse.clone())

    def done(self, step: int, bar, *, patience, tol: float, target_psnr) -> bool:
        """Update the plateau test after ``step``; True when every target stalled or reached ``target_psnr``."""
        gained = self.rmse < self.ref_rmse * (1.0 - tol)
        self.ref_rmse = torch.where(gained, self.rmse, self.ref_rmse)
        self.last_gain = torch.where(gained, torch.full_like(self.last_gain, step), self.last_gain)
        if step % 10 == 0:
            bar.set_postfix(psnr=f"{float(_psnr_from_mse(self.rmse**2).mean()):.1f} dB")
        if patience is not None and bool((step - self.last_gain >= patience).all()):
            return True
        return target_psnr is not None and bool((_psnr_from_mse(self.rmse**2) >= target_psnr).all())


# ----------------------------------------------------------------------------------------------------
# Beyond the paper: an encoder E(x) -> z to start the search from
# ----------------------------------------------------------------------------------------------------


class LatentEncoder(nn.Module):
    """A small convolutional encoder E: image -> latent vector z, the inverse of G (not in the paper).

    Four 5x5 stride-2 convolutions (``C/8, C/4, C/2, C`` channels, batch norm after all but the first,
    LeakyReLU 0.2, the discriminator's layout) halve the side four times; a linear layer and ``tanh``
    give z inside the prior's support ``[-1, 1]``.

    Args:
        image_size: side of the input images in pixels (a multiple of 16: 64, 128, 256).
        latent_dim: dimension of z (100 in the paper).
        width: channels ``C`` of the last convolution (a multiple of 8).

    Call ``E(x)`` with x float ``(N, 3, S, S)`` in ``[-1, 1]``; returns float ``(N, latent_dim)`` in ``(-1, 1)``.

    Raises:
        ValueError: for an image size that is not a positive multiple of 16 or a bad width.
    """

    def __init__(self, image_size: int = 64, latent_dim: int = 100, width: int = 128):
        super().__init__()
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 16 or image_size % 16:
            raise ValueError(f"image_size must be a positive multiple of 16 (pixels), got {image_size!r}")
        if isinstance(width, bool) or not isinstance(width, int) or width < 8 or width % 8:
            raise ValueError(f"width must be a multiple of 8 >= 8, got {width!r}")
        self.image_size, self.latent_dim, self.width = image_size, latent_dim, width
        chans = [3, width // 8, width // 4, width // 2, width]
        layers: list[nn.Module] = []
        for i in range(4):
            layers.append(nn.Conv2d(chans[i], chans[i + 1], 5, 2, 2, bias=i == 0))
            if i:
                layers.append(nn.BatchNorm2d(chans[i + 1]))
            layers.append(nn.LeakyReLU(0.2))
        self.conv = nn.Sequential(*layers)
        self.head = nn.Linear(width * (image_size // 16) ** 2, latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.head(self.conv(x).flatten(1)))


def train_encoder(
    generator: nn.Module,
    *,
    steps: int = 600,
    batch_size: int = 64,
    lr: float = 2e-3,
    width: int = 128,
    image_weight: float = 0.0,
    seed: int = 0,
    progress: bool = True,
) -> LatentEncoder:
    """Train a :class:`LatentEncoder` on generated pairs (z, G(z)) to predict z from the image.

    Each step draws fresh z from the prior (and random classes for a cDCGAN), generates ``G(z)`` in eval
    mode without gradients, and takes an Adam step on the mean squared error between ``E(G(z))`` and z,
    plus, when ``image_weight > 0``, ``image_weight`` times the mean squared error between ``G(E(G(z)))``
    and ``G(z)`` (slower: it backpropagates through G).
    The generator is not changed. ``E(x)`` is then a cheap first guess that :func:`reverse_search` refines
    (``init=encode(E, x)``); it is not part of the paper.

    Args:
        generator: a :class:`histogan_lite.models.Generator` (DCGAN or cDCGAN).
        steps: Adam steps.
        batch_size: pairs per step.
        lr: Adam learning rate (betas 0.5, 0.999).
        width: encoder width (see :class:`LatentEncoder`).
        image_weight: weight of the image-space term (0: latent-space loss only).
        seed: seeds the encoder's initial weights and the z drawn.
        progress: show a progress bar with the loss.

    Returns:
        The trained encoder in eval mode, on the generator's device; its ``loss_history`` attribute lists
        the loss of every step (mean squared error in latent units).

    Raises:
        TypeError: if ``generator`` is not a Generator.
        ValueError: if steps or batch_size is not a positive integer.
    """
    _check_generator(generator)
    for name, value in (("steps", steps), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    dev = _device_of(generator)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = LatentEncoder(generator.image_size, generator.latent_dim, width).to(dev)
    rng = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(encoder.parameters(), lr=lr, betas=(0.5, 0.999))
    losses: list[float] = []
    encoder.train()
    was_training = generator.training
    frozen = [p.requires_grad for p in generator.parameters()]
    generator.eval()
    for p in generator.parameters():
        p.requires_grad_(False)  # G is fixed: no gradients accumulate in its weights
    bar = _progress(range(steps), desc="train encoder", disable=not progress, leave=False)
    try:
        for step in bar:
            z = (torch.rand(batch_size, generator.latent_dim, generator=rng) * 2.0 - 1.0).to(dev)  # prior U(-1, 1)
            labels = None
            if generator.n_classes:
                labels = torch.randint(0, generator.n_classes, (batch_size,), generator=rng).to(dev)
            with torch.no_grad():
                x = generator(z) if labels is None else generator(z, labels)
            z_hat = encoder(x)
            loss = nn.functional.mse_loss(z_hat, z)
            if image_weight:
                # also match the images, G(E(x)) ~ x: gradients flow through the fixed G into E
                x_hat = generator(z_hat) if labels is None else generator(z_hat, labels)
                loss = loss + image_weight * nn.functional.mse_loss(x_hat, x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            if step % 20 == 0:
                bar.set_postfix(loss=f"{losses[-1]:.4f}")
    finally:
        bar.close()
        for p, flag in zip(generator.parameters(), frozen):
            p.requires_grad_(flag)
        generator.train(was_training)
    encoder.eval()
    encoder.loss_history = losses
    return encoder


def encode(encoder: LatentEncoder, images, batch_size: int = 256) -> torch.Tensor:
    """The encoder's guess of z for each image.

    Args:
        encoder: a trained :class:`LatentEncoder`.
        images: float tensor ``(N, 3, S, S)`` in ``[-1, 1]`` (or uint8 ``(N, S, S, 3)``), S = ``encoder.image_size``.
        batch_size: images per forward pass.

    Returns:
        float32 CPU tensor ``(N, latent_dim)`` in ``(-1, 1)``.

    Raises:
        TypeError / ValueError: for images of the wrong type, size or value range.
    """
    if not isinstance(encoder, LatentEncoder):
        raise TypeError(f"encoder must be a LatentEncoder (see train_encoder), got {type(encoder).__name__}")
    x = as_image_tensor(images, image_size=encoder.image_size, allow_empty=False)
    dev = _device_of(encoder)
    was_training = encoder.training
    encoder.eval()
    try:
        with torch.no_grad():
            z = [encoder(x[i : i + batch_size].to(dev)).cpu() for i in range(0, len(x), batch_size)]
    finally:
        encoder.train(was_training)
    return torch.cat(z)


# ----------------------------------------------------------------------------------------------------
# Vector arithmetic (paper 3.2.2)
# ----------------------------------------------------------------------------------------------------


def _as_vectors(zs, name: str) -> list[torch.Tensor]:
    if isinstance(zs, torch.Tensor):
        zs = [zs]
    out = []
    for i, z in enumerate(zs):
        if isinstance(z, np.ndarray):
            z = torch.from_numpy(z)
        if not isinstance(z, torch.Tensor) or not z.is_floating_point() or z.ndim not in (1, 2):
            got = f"shape {tuple(z.shape)}, dtype {z.dtype}" if isinstance(z, torch.Tensor) else type(z).__name__
            raise TypeError(f"{name}[{i}] must be a float tensor (latent_dim,) or (N, latent_dim), got {got}")
        out.append(z.detach().float().cpu())
    if not out:
        raise ValueError(f"{name} is empty: give at least one latent vector")
    dims = {z.shape[-1] for z in out}
    if len(dims) != 1:
        raise ValueError(f"{name}: latent vectors of different dimensions {sorted(dims)}")
    return out


def add(*zs: torch.Tensor) -> torch.Tensor:
    """``z1 + z2 + ...`` (paper 3.2.2). Each is ``(latent_dim,)`` or ``(N, latent_dim)`` (broadcast).

    Raises:
        TypeError / ValueError: for non-float tensors, no input, or mismatched dimensions.
    """
    vs = _as_vectors(list(zs), "zs")
    return torch.stack(torch.broadcast_tensors(*vs)).sum(0)


def subtract(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """``z1 - z2`` (paper 3.2.2). Shapes ``(latent_dim,)`` or ``(N, latent_dim)`` (broadcast)."""
    a, b = _as_vectors([z1, z2], "z1, z2")
    return a - b


def mean_z(zs) -> torch.Tensor:
    """The mean ``z_bar`` of a set of latent vectors (paper 3.2.2).

    Args:
        zs: float tensor ``(n, latent_dim)`` or a list of ``(latent_dim,)`` tensors.

    Returns:
        float32 tensor ``(latent_dim,)``.

    Raises:
        TypeError / ValueError: for an empty set or mismatched dimensions.
    """
    if isinstance(zs, torch.Tensor) and zs.ndim == 2:
        if zs.shape[0] == 0:
            raise ValueError("mean_z of an empty set: give at least one latent vector")
        return _as_vectors(zs, "zs")[0].mean(0)
    vs = _as_vectors(list(zs), "zs")
    return torch.cat([v.reshape(-1, v.shape[-1]) for v in vs]).mean(0)


def arithmetic(plus, minus=()) -> torch.Tensor:
    """``sum(plus) - sum(minus)``, e.g. ``z1 + z2 - z3`` (paper 3.2.2).

    Args:
        plus: list of float tensors ``(latent_dim,)`` or ``(N, latent_dim)`` to add (at least one).
        minus: list of the same to subtract.

    Returns:
        float32 tensor of the broadcast shape.

    Raises:
        TypeError / ValueError: for no ``plus`` term, non-float tensors or mismatched dimensions.
    """
    pos = _as_vectors(list(plus) if not isinstance(plus, torch.Tensor) else [plus], "plus")
    neg = _as_vectors(list(minus), "minus") if len(minus) else []
    if neg and pos[0].shape[-1] != neg[0].shape[-1]:
        raise ValueError(f"plus and minus vectors differ in dimension: {pos[0].shape[-1]} vs {neg[0].shape[-1]}")
    terms = torch.broadcast_tensors(*pos, *neg)
    out = torch.stack(terms[: len(pos)]).sum(0)
    if neg:
        out = out - torch.stack(terms[len(pos) :]).sum(0)
    return out


def attribute_vector(z_with, z_without) -> torch.Tensor:
    """An attribute direction: ``mean(z_with) - mean(z_without)`` (paper 3.2.2, on means).

    Args:
        z_with: float ``(n, latent_dim)``, latent vectors of images showing the attribute (e.g. a lumen).
        z_without: float ``(m, latent_dim)``, latent vectors of images without it.

    Returns:
        float32 ``(latent_dim,)``.
    """
    return mean_z(z_with) - mean_z(z_without)


def attribute_vector_from_images(
    generator: nn.Module, images_with, images_without, labels_with=None, labels_without=None, **search
) -> tuple[torch.Tensor, ReverseSearchResult, ReverseSearchResult]:
    """An attribute direction from two sets of images: reverse-search both, subtract the means.

    Args:
        generator: a Generator.
        images_with: float ``(n, 3, S, S)`` in ``[-1, 1]``, images showing the attribute.
        images_without: float ``(m, 3, S, S)`` in ``[-1, 1]``, images without it.
        labels_with, labels_without: cDCGAN only, int64 ``(n,)`` and ``(m,)``.
        **search: passed to :func:`reverse_search` (steps, restarts, init, seed, ...).

    Returns:
        ``(vector (latent_dim,), result_with, result_without)``.

    Raises:
        As :func:`reverse_search`.
    """
    found_with = reverse_search(generator, images_with, labels_with, **search)
    found_without = reverse_search(generator, images_without, labels_without, **search)
    return attribute_vector(found_with.z, found_without.z), found_with, found_without


def apply_attribute(z: torch.Tensor, vector: torch.Tensor, strength: float = 1.0, clip: bool = False) -> torch.Tensor:
    """Move latent vectors along an attribute direction: ``z + strength * vector``.

    Args:
        z: float ``(latent_dim,)`` or ``(N, latent_dim)``.
        vector: float ``(latent_dim,)`` (e.g. from :func:`attribute_vector`).
        strength: multiple of the vector to add (0 leaves z unchanged, negative removes the attribute).
        clip: clamp the result into the prior's support ``[-1, 1]``. Off by default: the paper's sums
            leave the cube too; the generator still accepts them, further from what it was trained on.

    Returns:
        float32 tensor shaped like ``z``.
    """
    a, v = _as_vectors([z, vector], "z, vector")
    out = a + float(strength) * v
    return out.clamp(-1.0, 1.0) if clip else out


# ----------------------------------------------------------------------------------------------------
# Class inversion (paper 3.2.3) and class vectors
# ----------------------------------------------------------------------------------------------------


def _require_conditional(generator, what: str) -> None:
    _check_generator(generator)
    if not generator.n_classes:
        raise ValueError(
            f"{what} needs a conditional generator (cDCGAN, n_classes >= 2); this one is a DCGAN "
            "(n_classes=0) and has no class to change: load 'cdcgan-64' instead"
        )


def other_labels(labels, n_classes: int = 2) -> torch.Tensor:
    """The other class of each label, for two classes: ``1 - label`` (negative <-> positive).

    Raises:
        ValueError: if ``n_classes`` is not 2 (with more classes "the other" is ambiguous: name it) or a
            label is outside ``[0, 2)``.
    """
    if n_classes != 2:
        raise ValueError(f"other_labels is defined for 2 classes; with {n_classes} pass the target classes explicitly")
    labels = torch.as_tensor(labels).long()
    if ((labels < 0) | (labels > 1)).any():
        raise ValueError(f"labels must be 0 or 1, got {sorted(set(labels.flatten().tolist()))}")
    return 1 - labels


def invert_class(generator: nn.Module, z: torch.Tensor, labels, to_labels=None) -> torch.Tensor:
    """Class inversion: keep z, change the class, generate (paper 3.2.3, Figs. 8-9).

    Args:
        generator: a cDCGAN :class:`histogan_lite.models.Generator`.
        z: float ``(N, latent_dim)`` (saved or found by :func:`reverse_search`).
        labels: int64 ``(N,)`` in ``[0, n_classes)``: the class each z was generated (or found) with.
        to_labels: int64 ``(N,)``, the classes to generate with; default: the other class
            (``1 - labels``, two classes only).

    Returns:
        float32 CPU tensor ``(N, 3, S, S)`` in ``[-1, 1]``: ``G(z, to_labels)``.

    Raises:
        ValueError: for a DCGAN generator, labels outside the classes, or ``to_labels`` missing when there
            are more than two classes.
    """
    _require_conditional(generator, "class inversion")
    z = _check_z(z, generator.latent_dim, allow_vector=True)
    labels = _check_labels(generator, labels, z.shape[0])
    if to_labels is None:
        to_labels = other_labels(labels, generator.n_classes)
    else:
        to_labels = _check_labels(generator, to_labels, z.shape[0], name="to_labels")
    return generate(generator, z, to_labels)


def class_vectors(labels, n_classes: int) -> torch.Tensor:
    """One-hot class vectors ``(N, n_classes)`` float32 for int labels ``(N,)``."""
    labels = torch.as_tensor(labels).long()
    if ((labels < 0) | (labels >= n_classes)).any():
        raise ValueError(f"labels must lie in [0, {n_classes}), got {sorted(set(labels.flatten().tolist()))}")
    return nn.functional.one_hot(labels, n_classes).float()


def generate_with_class_vector(generator: nn.Module, z: torch.Tensor, class_vector: torch.Tensor) -> torch.Tensor:
    """cDCGAN images from z and a *soft* class vector (a mix of classes), eval mode, no gradients.

    The cDCGAN concatenates a one-hot class vector to z (paper 3.1). Feeding a mix such as
    ``[1 - a, a]`` moves continuously between the classes (the class slider); one-hot rows give exactly
    ``G(z, labels)``.

    Args:
        generator: a cDCGAN Generator.
        z: float ``(N, latent_dim)``.
        class_vector: float ``(N, n_classes)`` (or ``(n_classes,)`` for all), e.g. from :func:`class_vectors`
            or :func:`interpolate_classes`.

    Returns:
        float32 CPU tensor ``(N, 3, S, S)`` in ``[-1, 1]``.

    Raises:
        ValueError: for a DCGAN, or a class vector of the wrong shape.
    """
    _require_conditional(generator, "a class vector")
    z = _check_z(z, generator.latent_dim, allow_vector=True)
    c = torch.as_tensor(class_vector).float()
    if c.ndim == 1:
        c = c.expand(z.shape[0], -1)
    if c.shape != (z.shape[0], generator.n_classes):
        raise ValueError(f"class_vector must have shape ({z.shape[0]}, {generator.n_classes}), got {tuple(c.shape)}")
    dev = _device_of(generator)
    g = generator
    was_training = g.training
    g.eval()
    try:
        with torch.no_grad():
            # the generator's own forward pass, with the one-hot replaced by a soft class vector
            h = g.project(torch.cat([z, c], 1).to(dev)).view(z.shape[0], g.width, g.base_size, g.base_size)
            out = g.deconv(g.project_act(g.project_bn(h))).float().cpu()
    finally:
        g.train(was_training)
    return out


# ----------------------------------------------------------------------------------------------------
# Interpolation (paper 3.2.4)
# ----------------------------------------------------------------------------------------------------


def interpolate(z1: torch.Tensor, z2: torch.Tensor, n: int, method: str = "linear") -> torch.Tensor:
    """Points on a path from z1 to z2 (paper 3.2.4, eq. 5).

    ``method="linear"`` is eq. (5), ``z = lambda z1 + (1 - lambda) z2``, with lambda going from 1 (first
    row, z1) to 0 (last row, z2) in ``n`` equal steps.

    ``method="spherical"`` (slerp; not in the paper) walks the great circle between the directions of z1
    and z2 while the length changes linearly from ``|z1|`` to ``|z2|``. Why: in 100 dimensions the prior's
    vectors all have nearly the same length (uniform on ``[-1, 1]``: ``|z| = sqrt(100/3) = 5.8 +- 0.3``),
    while the midpoint of a straight line between two of them is ~``1/sqrt(2)`` as long (4.1): the linear
    path dips into a region the generator never saw in training. The spherical path keeps the length.

    Args:
        z1, z2: float ``(latent_dim,)`` (or ``(1, latent_dim)``) start and end points.
        n: number of points (>= 2), endpoints included.
        method: ``"linear"`` or ``"spherical"`` (alias ``"slerp"``).

    Returns:
        float32 ``(n, latent_dim)``; row 0 is exactly z1 and row ``n - 1`` exactly z2.

    Raises:
        ValueError: for n < 2, an unknown method, or z1 and z2 of different shapes.
    """
    a, b = _as_vectors([z1, z2], "z1, z2")
    a, b = a.reshape(-1), b.reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"z1 and z2 must be single vectors of the same size, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2 (endpoints included), got {n!r}")
    if method not in ("linear", "spherical", "slerp"):
        raise ValueError(f"method must be 'linear' or 'spherical' (alias 'slerp'), got {method!r}")
    out = _path(a, b, torch.linspace(0.0, 1.0, n)[:, None], method)
    out[0], out[-1] = a, b  # exact endpoints, whatever the rounding
    return out


def _path(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor, method: str) -> torch.Tensor:
    """Points at fractions t (column (n, 1), 0 at a, 1 at b) of the linear or spherical path a -> b."""
    lam = 1.0 - t
    if method == "linear":
        return lam * a + (1.0 - lam) * b  # eq. (5): z = lambda z1 + (1 - lambda) z2
    na, nb = a.norm(), b.norm()
    ua, ub = a / na.clamp_min(1e-12), b / nb.clamp_min(1e-12)
    omega = torch.arccos((ua * ub).sum().clamp(-1.0, 1.0))
    if float(omega) < 1e-4 or float(omega) > math.pi - 1e-4:  # (anti)parallel: no unique great circle
        return lam * a + (1.0 - lam) * b
    direction = (torch.sin((1.0 - t) * omega) * ua + torch.sin(t * omega) * ub) / torch.sin(omega)
    return direction * ((1.0 - t) * na + t * nb)  # the length changes linearly from |z1| to |z2|


def interpolate_at(z1: torch.Tensor, z2: torch.Tensor, t: float, method: str = "linear") -> torch.Tensor:
    """The point at fraction ``t`` of the path from z1 to z2, as :func:`interpolate` (``lambda = 1 - t``).

    Args:
        z1, z2: float ``(latent_dim,)`` or ``(N, latent_dim)`` (N paths at once).
        t: fraction in ``[0, 1]``: 0 gives z1 exactly, 1 gives z2 exactly.
        method: ``"linear"`` (eq. 5) or ``"spherical"``.

    Returns:
        float32 tensor shaped like z1.

    Raises:
        ValueError: for t outside ``[0, 1]``, an unknown method, or shapes that differ.
    """
    a, b = _as_vectors([z1, z2], "z1, z2")
    if a.shape != b.shape:
        raise ValueError(f"z1 and z2 must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if not 0.0 <= float(t) <= 1.0:
        raise ValueError(f"t must lie in [0, 1], got {t!r}")
    if method not in ("linear", "spherical", "slerp"):
        raise ValueError(f"method must be 'linear' or 'spherical' (alias 'slerp'), got {method!r}")
    if float(t) == 0.0:
        return a.clone()
    if float(t) == 1.0:
        return b.clone()
    tt = torch.tensor([[float(t)]])
    rows = [_path(x, y, tt, method)[0] for x, y in zip(a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1]))]
    return torch.stack(rows).reshape(a.shape)


def interpolation_paths(center: torch.Tensor, ends: torch.Tensor, n: int, method: str = "linear") -> torch.Tensor:
    """Paths from one point in several directions (paper Fig. 11): ``interpolate(center, ends[k], n)``.

    Args:
        center: float ``(latent_dim,)``, the common start.
        ends: float ``(K, latent_dim)``, one end point per direction.
        n: points per path (>= 2).
        method: as :func:`interpolate`.

    Returns:
        float32 ``(K, n, latent_dim)``; ``[:, 0]`` is the center, ``[k, -1]`` is ``ends[k]``.
    """
    ends = _as_vectors(ends, "ends")[0]
    if ends.ndim != 2:
        raise ValueError(f"ends must be (K, latent_dim), got {tuple(ends.shape)}")
    return torch.stack([interpolate(center, e, n, method) for e in ends])


def interpolate_classes(l1: int, l2: int, n: int, n_classes: int = 2, method: str = "toggle") -> torch.Tensor:
    """Class vectors along an interpolation between class ``l1`` and class ``l2`` (cDCGAN, Fig. 12).

    Args:
        l1, l2: start and end class in ``[0, n_classes)``.
        n: number of points (>= 2), as in :func:`interpolate`.
        n_classes: number of classes.
        method: ``"toggle"`` (the paper: the one-hot vector switches from l1 to l2 half way, where
            lambda < 0.5) or ``"linear"`` (a soft mix ``lambda e_l1 + (1 - lambda) e_l2``, eq. 5 on the class
            vector; see :func:`generate_with_class_vector`).

    Returns:
        float32 ``(n, n_classes)``; rows are one-hot for ``"toggle"``, sum to 1 for ``"linear"``.
    """
    e1, e2 = class_vectors([l1, l2], n_classes)
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    lam = 1.0 - torch.linspace(0.0, 1.0, n)[:, None]
    if method == "linear":
        return lam * e1 + (1.0 - lam) * e2  # eq. (5) on the class vector
    if method == "toggle":
        return torch.where(lam >= 0.5, e1, e2)
    raise ValueError(f"method must be 'toggle' or 'linear', got {method!r}")
