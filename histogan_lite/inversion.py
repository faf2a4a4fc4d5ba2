"""GAN inversion: find the z of a given image (paper section 3.2.1), by search or with an encoder.

* :func:`reverse_search` finds z by gradient descent on the RMSE between ``G(z)`` and the image, with
  several restarts per image; :func:`search_z` is its search core (the part the book shows).
* :class:`LatentEncoder`, :func:`train_encoder` and :func:`encode` (not in the paper) learn a map
  ``E(x) -> z`` that gives the search a better start.

Images are float tensors ``(N, 3, H, W)`` in ``[-1, 1]`` (uint8 arrays are converted); latent vectors are
float ``(N, latent_dim)``. Functions return CPU tensors and accept a generator on any device.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn

from .judges import _psnr_from_mse
from .sampling import _check_generator, _check_labels, _check_z, _device_of, generate, sample_z
from .utils import as_image_tensor, check_int, check_lr, eval_mode
from .utils import progress as _progress

__all__ = ["ReverseSearchResult", "reverse_search", "search_z", "LatentEncoder", "train_encoder", "encode"]


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
    check_int(steps, "steps")
    check_int(restarts, "restarts")
    check_lr(lr)  # the shared check (as TrainConfig's): in (0, 1), in latent units per step here
    if constraint not in ("clamp", "tanh"):
        raise ValueError(f"constraint must be 'clamp' or 'tanh', got {constraint!r}")
    if patience is not None:
        check_int(patience, "patience")

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
    bar = _progress(total=steps, desc="reverse search", disable=not progress, leave=False)
    try:
        with eval_mode(generator):
            steps_run = search_z(generator, target, lab, z0.view(restarts * n, dim).to(dev), best, bar, steps=steps,
                                 lr=lr, constraint=constraint, patience=patience, tol=tol, target_psnr=target_psnr)
    finally:
        bar.close()

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

    Returns the steps run. ``target`` ``(R * N, 3, S, S)`` holds restart r of target i in row
    ``r * N + i``, ``z0`` ``(R * N, D)`` the starts, ``lab`` the classes (cDCGAN) or ``None``; ``best`` keeps the best z of each target; the
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
        check_int(latent_dim, "latent_dim")
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

    Modes: the generator runs in eval mode and gets back the train/eval mode (of every submodule) and the
    ``requires_grad`` flags it came with, also when training stops with an error or an interrupt
    (:func:`histogan_lite.utils.eval_mode`). The encoder is this function's own: it trains in train mode
    and is returned in eval mode, ready for :func:`encode` (which would use eval mode anyway).

    Returns:
        The trained encoder in eval mode, on the generator's device; its ``loss_history`` attribute lists
        the loss of every step (mean squared error in latent units).

    Raises:
        TypeError: if ``generator`` is not a Generator.
        ValueError: if steps or batch_size is not a positive integer, or lr is not in (0, 1) (the checks
            ``TrainConfig`` uses).
    """
    _check_generator(generator)
    check_int(steps, "steps")
    check_int(batch_size, "batch_size")
    check_lr(lr)
    dev = _device_of(generator)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = LatentEncoder(generator.image_size, generator.latent_dim, width).to(dev)
    rng = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(encoder.parameters(), lr=lr, betas=(0.5, 0.999))
    losses: list[float] = []
    encoder.train()  # a hand call on purpose: the encoder is built above and trained here (nobody else's mode)
    frozen = [p.requires_grad for p in generator.parameters()]
    for p in generator.parameters():
        p.requires_grad_(False)  # G is fixed: no gradients accumulate in its weights
    bar = _progress(range(steps), desc="train encoder", disable=not progress, leave=False)
    with eval_mode(generator):  # G's batch norm uses its running statistics; its mode is restored after
        try:
            for step in bar:
                z = sample_z(batch_size, generator.latent_dim, generator=rng).to(dev)  # prior U(-1, 1)
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
    encoder.eval()  # a hand call on purpose: the new encoder is returned ready for inference (documented)
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
    check_int(batch_size, "batch_size")
    x = as_image_tensor(images, image_size=encoder.image_size, allow_empty=False)
    dev = _device_of(encoder)
    with eval_mode(encoder), torch.no_grad():
        z = [encoder(x[i : i + batch_size].to(dev)).cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(z)
