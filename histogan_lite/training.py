"""Training the DCGAN / cDCGAN with the paper's tricks, and checkpoints (paper sections 3.1, 3.1.1).

One training *step* is one discriminator update followed by ``g_steps`` generator updates (the paper:
2). Its ingredients, each a field of :class:`TrainConfig` so a chapter can switch it off:

* eq. (1): D minimises the cross-entropy of real images (target 1, or ``real_label`` = 0.9 with
  one-sided label smoothing) and generated images (target 0, never smoothed);
* eq. (4): G minimises the non-saturating loss -log D(G(z)) (generated samples get target 1);
* instance noise: Gaussian noise of standard deviation ``instance_noise`` (in the [-1, 1] image scale)
  is added to every image D sees, annealed linearly to zero;
* z is drawn uniform in [-1, 1] (:func:`histogan_lite.latent.sample_z`);
* Adam, learning rate 2e-4, betas (0.5, 0.999), batch 64 (Radford et al.; the paper).

Every random draw of step ``t`` (the real batch, z, the cDCGAN's generated labels, the noise) comes
from a generator seeded with ``(seed, rank, t)``, so a run is reproducible on the CPU and ``resume``
continues exactly where a checkpoint left off. Checkpoints are a pair of files: ``<stem>.safetensors``
(weights and optimizer tensors, no pickle) and ``<stem>.json`` (configuration, step, SHA-256 of the
weights file), both written atomically.

Under ``torchrun`` (environment variable ``WORLD_SIZE`` > 1) the models are wrapped in
``DistributedDataParallel`` (nccl on GPUs, gloo on CPUs); ``batch_size`` is then per process.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from .checkpoints import (  # noqa: F401  (old names, importable from here)
    CHECKPOINT_FORMAT, CHECKPOINT_VERSION, Checkpoint, _describe, _load_state_checked, _optimizer_state,
    _optimizer_tensors, _paths, _read_json, _read_tensors, _sha256, checkpoint_paths, load_generator_checkpoint,
    save_generator)
from .models import IMAGE_SIZES, Discriminator, Generator
from .sampling import generate, sample_z
from .synthetic import GENERATOR_VERSION
from .utils import atomic_path, atomic_write_text, progress, select_device

__all__ = [
    "TrainConfig",
    "preset",
    "PRESETS",
    "TrainingDiverged",
    "TrainResult",
    "build_models",
    "make_optimizers",
    "noise_std_at",
    "step_generator",
    "discriminator_loss",
    "generator_loss",
    "train_step",
    "train",
    "Checkpoint",
    "load_generator_checkpoint",
    "save_generator",
    "load_data",
    "sample_grid",
]

MODELS = {"dcgan": 0, "cdcgan": 2}


class TrainingDiverged(RuntimeError):
    """Raised when the losses become NaN/Inf or D stays saturated; the last good checkpoint is kept."""


@dataclass
class TrainConfig:
    """Everything that defines a training run. Defaults are the paper's (section 3.1.1).

    Attributes:
        model: ``"dcgan"`` (unconditional) or ``"cdcgan"`` (conditioned on 2 classes).
        image_size: 64, 128 or 256 pixels per side (the paper: 256; see ``preset("paper")``).
        width: channels of the widest layer; ``None`` = 512, half of Radford et al.'s filters.
        latent_dim: dimension of z (100).
        batch_size: images per step and per process (the paper: 64).
        steps: number of training steps (one D update + ``g_steps`` G updates each).
        lr, beta1, beta2: Adam (2e-4, 0.5, 0.999).
        g_steps: generator updates per discriminator update (the paper: 2).
        generator_loss: ``"non-saturating"`` (eq. 4, the paper) or ``"saturating"`` (eq. 2, for the
            chapter's comparison).
        real_label: target for real images in eq. (1); 0.9 is one-sided label smoothing, 1.0 none.
        instance_noise: standard deviation of the Gaussian noise added to D's inputs at step 0, in
            the [-1, 1] image scale; 0 disables it.
        noise_anneal_steps: the noise falls linearly to 0 at this step; ``None`` = ``steps``.
        seed: seeds the weights and every random draw.
        sample_every: save a sample grid from a fixed z every this many steps (0: never).
        checkpoint_every: write a checkpoint every this many steps (0: only at the end).
        n_sample: images in the fixed-z sample grid (for the cDCGAN half of them per class).
        amp: use automatic mixed precision (float16) on CUDA; ignored on the CPU.
        divergence_patience: stop when D is saturated (mean D(G(z)) or mean D(x) below
            ``saturation_eps``) for this many consecutive steps.
        saturation_eps: see ``divergence_patience``.
        upsample: G's upsampling, ``"transposed"`` (the paper) or ``"resize-conv"`` (nearest x2 + 3x3
            convolution, no checkerboard; :class:`~histogan_lite.models.Generator`).
        kernel_size: 5 (the paper) or 4 (Radford et al.'s code) for G's transposed and D's convolutions.
        z_prior: ``"uniform"`` in [-1, 1] (the paper) or ``"normal"`` N(0, 1).
        d_spectral_norm: spectral normalisation in D (Miyato et al. 2018; not in the paper).
        d_label_in: where the class enters a cDCGAN's D: ``"first-conv"`` (the paper), ``"input"`` or
            ``"projection"`` (:class:`~histogan_lite.models.Discriminator`).
        lr_d, lr_g: per-network Adam learning rates (two time-scale update rule, Heusel et al. 2017);
            ``None`` = ``lr`` (the paper: one rate for both).
    """

    model: str = "dcgan"
    image_size: int = 256
    width: int | None = None
    latent_dim: int = 100
    batch_size: int = 64
    steps: int = 10_000
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    g_steps: int = 2
    generator_loss: str = "non-saturating"
    real_label: float = 0.9
    instance_noise: float = 0.1
    noise_anneal_steps: int | None = None
    seed: int = 0
    sample_every: int = 500
    checkpoint_every: int = 500
    n_sample: int = 16
    amp: bool = True
    divergence_patience: int = 200
    saturation_eps: float = 1e-3
    upsample: str = "transposed"
    kernel_size: int = 5
    z_prior: str = "uniform"
    d_spectral_norm: bool = False
    d_label_in: str = "first-conv"
    lr_d: float | None = None
    lr_g: float | None = None

    def __post_init__(self):
        self.validate()

    @property
    def n_classes(self) -> int:
        return MODELS[self.model]

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field when a value is out of range."""
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {sorted(MODELS)}, got {self.model!r}")
        if self.image_size not in IMAGE_SIZES:
            raise ValueError(f"image_size must be one of {IMAGE_SIZES}, got {self.image_size!r}")
        if self.width is not None and (not isinstance(self.width, int) or self.width < 8 or self.width % 8):
            raise ValueError(f"width must be None (paper: 512) or a multiple of 8, got {self.width!r}")
        for name in ("batch_size", "g_steps", "latent_dim", "divergence_patience"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("steps", "sample_every", "checkpoint_every", "seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if self.batch_size < 2:
            raise ValueError("batch_size must be >= 2 (batch norm needs more than one sample)")
        if not 0.0 < self.real_label <= 1.0:
            raise ValueError(f"real_label must lie in (0, 1] (1.0: no label smoothing), got {self.real_label!r}")
        if self.instance_noise < 0:
            raise ValueError(f"instance_noise must be >= 0, got {self.instance_noise!r}")
        if self.noise_anneal_steps is not None and self.noise_anneal_steps < 1:
            raise ValueError(f"noise_anneal_steps must be None or >= 1, got {self.noise_anneal_steps!r}")
        if self.generator_loss not in ("non-saturating", "saturating"):
            raise ValueError(f"generator_loss must be 'non-saturating' (eq. 4) or 'saturating' (eq. 2), got {self.generator_loss!r}")
        from .models import KERNEL_SIZES, LABEL_IN, UPSAMPLES, Z_PRIORS

        for name, choices in (("upsample", UPSAMPLES), ("kernel_size", KERNEL_SIZES), ("z_prior", Z_PRIORS),
                              ("d_label_in", LABEL_IN)):
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {getattr(self, name)!r}")
        if not isinstance(self.d_spectral_norm, bool):
            raise ValueError(f"d_spectral_norm must be True or False, got {self.d_spectral_norm!r}")
        for name in ("lr_d", "lr_g"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and 0 < value < 1):
                raise ValueError(f"{name} must be None (use lr) or a learning rate in (0, 1), got {value!r}")
        if self.n_sample < 2 or self.n_sample % 2:
            raise ValueError(f"n_sample must be an even number >= 2, got {self.n_sample!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {sorted(unknown)}")
        return cls(**d)


PRESETS = {
    # the paper's configuration: 256x256 patches, 512-256-128-64 filters (half of Radford's), batch 64
    "paper": dict(image_size=256, width=None, batch_size=64),
    # the CPU default: 64x64 patches, a quarter of the paper's width (about 16x fewer FLOPs per image)
    "cpu": dict(image_size=64, width=128, batch_size=64),
    # live demos in the book and tests: runs a step in a few tens of milliseconds
    "tiny": dict(image_size=64, width=32, batch_size=32, sample_every=50, checkpoint_every=0),
}


def preset(name: str, **overrides) -> TrainConfig:
    """A :class:`TrainConfig` for a named configuration.

    Args:
        name: ``"paper"`` (256 px, paper width 512, batch 64), ``"cpu"`` (64 px, width 128, batch 64)
            or ``"tiny"`` (64 px, width 32, batch 32, for live demos and tests).
        **overrides: any :class:`TrainConfig` field (``model="cdcgan"``, ``steps=200``, ...).

    Returns:
        The configuration; every trick (label smoothing, instance noise, 2 G steps) keeps the paper's
        setting unless overridden.

    Raises:
        ValueError: for an unknown preset name or an invalid field value.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected one of {sorted(PRESETS)}")
    return TrainConfig(**{**PRESETS[name], **overrides})


# ----------------------------------------------------------------------------------------------------
# models, optimizers and one training step


def build_models(config: TrainConfig, device: str | torch.device = "cpu") -> tuple[Generator, Discriminator]:
    """Create G and D for ``config`` with weights drawn from ``torch.manual_seed(config.seed)``.

    Returns:
        ``(G, D)`` on ``device`` in train mode.
    """
    torch.manual_seed(config.seed)
    G = Generator(config.image_size, config.n_classes, config.latent_dim, config.width,
                  upsample=config.upsample, kernel_size=config.kernel_size, z_prior=config.z_prior)
    D = Discriminator(config.image_size, config.n_classes, config.width, kernel_size=config.kernel_size,
                      spectral_norm=config.d_spectral_norm, label_in=config.d_label_in)
    return G.to(device), D.to(device)


def make_optimizers(G: nn.Module, D: nn.Module, config: TrainConfig) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Adam for G and for D with the paper's (Radford et al.'s) settings from ``config``.

    G's rate is ``config.lr_g`` and D's ``config.lr_d`` when set (two time-scale updates), else ``config.lr``.
    """
    betas = (config.beta1, config.beta2)
    lr_g = config.lr if config.lr_g is None else config.lr_g
    lr_d = config.lr if config.lr_d is None else config.lr_d
    return (torch.optim.Adam(G.parameters(), lr=lr_g, betas=betas),
            torch.optim.Adam(D.parameters(), lr=lr_d, betas=betas))


def noise_std_at(config: TrainConfig, step: int) -> float:
    """Instance-noise standard deviation at ``step``: linear from ``instance_noise`` to 0."""
    horizon = config.noise_anneal_steps or max(config.steps, 1)
    return config.instance_noise * max(0.0, 1.0 - step / horizon)


def step_generator(seed: int, step: int, rank: int = 0, device: str | torch.device = "cpu") -> torch.Generator:
    """The random generator for one training step, seeded from ``(seed, rank, step)``.

    Deriving each step's randomness from its index (not from a running state) is what lets ``resume``
    and a second run with the same seed reproduce the losses exactly on the CPU.
    """
    state = np.random.SeedSequence([int(seed), int(rank), int(step)]).generate_state(2, dtype=np.uint32)
    gen = torch.Generator(device=device)
    gen.manual_seed(int(state[0]) << 31 ^ int(state[1]))
    return gen


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def discriminator_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor, real_label: float = 1.0) -> torch.Tensor:
    """The discriminator's cross-entropy, eq. (1), on logits.

    Args:
        logits_real: D's logits ``(N,)`` on real images x.
        logits_fake: D's logits ``(M,)`` on generated images G(z).
        real_label: target for real images: 1 in eq. (1); 0.9 with one-sided label smoothing (the
            generated images' target stays 0).

    Returns:
        Scalar tensor ``mean BCE(D(x), real_label) + mean BCE(D(G(z)), 0)``, i.e. ``2 J^D`` of eq. (1)
        (the factor 2 does not change Adam's steps). With ``sigmoid`` turning logits into D's
        probabilities, ``BCE(a, t) = -t log sigmoid(a) - (1 - t) log(1 - sigmoid(a))``.
    """
    return _bce(logits_real, real_label) + _bce(logits_fake, 0.0)  # eq. (1)


def generator_loss(logits_fake: torch.Tensor, kind: str = "non-saturating") -> torch.Tensor:
    """The generator's loss on D's logits for generated images.

    Args:
        logits_fake: D's logits ``(N,)`` on G(z).
        kind: ``"non-saturating"``: eq. (4), ``-mean log D(G(z))`` (the generated images get target 1;
            what the paper trains with); ``"saturating"``: the minimax loss of eqs. (2)-(3),
            ``mean log(1 - D(G(z)))``, whose gradient vanishes when D confidently rejects G(z).

    Returns:
        Scalar tensor to minimise.

    Raises:
        ValueError: for an unknown ``kind``.
    """
    if kind == "non-saturating":
        return _bce(logits_fake, 1.0)  # eq. (4): -log D(G(z))
    if kind == "saturating":
        return -_bce(logits_fake, 0.0)  # eqs. (2)-(3): log(1 - D(G(z))), i.e. -J^D restricted to G's term
    raise ValueError(f"kind must be 'non-saturating' (eq. 4) or 'saturating' (eq. 2), got {kind!r}")


def train_step(
    G: nn.Module,
    D: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    real: torch.Tensor,
    labels: torch.Tensor | None,
    config: TrainConfig,
    step: int,
    gen: torch.Generator,
    scalers: tuple | None = None,
) -> dict:
    """One step: one D update (eq. 1) then ``config.g_steps`` G updates (eq. 4).

    Args:
        G, D: the models (possibly wrapped in DistributedDataParallel), in train mode.
        opt_g, opt_d: their optimizers.
        real: float32 ``(N, 3, H, W)`` in [-1, 1], the real batch, on the models' device.
        labels: int64 ``(N,)`` classes of the real batch (cDCGAN), else ``None``.
        config: the run's configuration (tricks, n_classes, latent_dim).
        step: index of this step (sets the instance-noise level).
        gen: the step's random generator (see :func:`step_generator`), on the models' device.
        scalers: ``(scaler_d, scaler_g)`` ``torch.amp.GradScaler`` for mixed precision on CUDA, or None.

    Returns:
        dict with floats ``loss_d`` (eq. 1 with smoothing), ``loss_g`` (eq. 4, mean over the G
        updates), ``d_real`` (mean D(x), probability), ``d_fake`` (mean D(G(z)) before the G updates)
        and ``noise_std``.
    """
    n = real.shape[0]
    device = real.device
    conditional = config.n_classes > 0
    sigma = noise_std_at(config, step)
    use_amp = scalers is not None
    autocast = torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp)

    def noisy(x):  # instance noise on every input of D (paper 3.1.1, point 2)
        if sigma == 0.0:
            return x
        return x + sigma * torch.randn(x.shape, generator=gen, device=device, dtype=x.dtype)

    def draw():
        z = sample_z(n, config.latent_dim, generator=gen, prior=config.z_prior)  # the run's prior, on gen's device
        y = torch.randint(0, config.n_classes, (n,), generator=gen, device=device) if conditional else None
        return z, y

    cond = (labels,) if conditional else ()

    # --- discriminator: eq. (1), real target smoothed to real_label (one-sided), generated target 0
    z, y_fake = draw()
    with torch.no_grad(), autocast:
        fake = G(z, y_fake) if conditional else G(z)
    with autocast:
        logit_real = D(noisy(real), *cond)
        logit_fake = D(noisy(fake), *((y_fake,) if conditional else ()))
        loss_d = discriminator_loss(logit_real, logit_fake, config.real_label)  # eq. (1), smoothed
    opt_d.zero_grad(set_to_none=True)
    if use_amp:
        scalers[0].scale(loss_d).backward()
        scalers[0].step(opt_d)
        scalers[0].update()
    else:
        loss_d.backward()
        opt_d.step()

    # --- generator: eq. (4), the non-saturating loss, g_steps times per D update (paper 3.1.1, point 4)
    # D's weights are frozen here: the backward pass then computes only the gradient through D's inputs
    # (what G needs), not D's weight gradients, which a G update would discard anyway. Under DDP the
    # unwrapped D is used, so no gradient synchronisation for D is triggered.
    D_g = getattr(D, "module", D)
    loss_g_sum = 0.0
    D_g.requires_grad_(False)
    try:
        for _ in range(config.g_steps):
            z, y_fake = draw()
            with autocast:
                fake = G(z, y_fake) if conditional else G(z)
                loss_g = generator_loss(D_g(noisy(fake), *((y_fake,) if conditional else ())), config.generator_loss)  # eq. (4)
            opt_g.zero_grad(set_to_none=True)
            if use_amp:
                scalers[1].scale(loss_g).backward()
                scalers[1].step(opt_g)
                scalers[1].update()
            else:
                loss_g.backward()
                opt_g.step()
            loss_g_sum += float(loss_g.detach())
    finally:
        D_g.requires_grad_(True)
    return {
        "loss_d": float(loss_d.detach()),
        "loss_g": loss_g_sum / config.g_steps,
        "d_real": float(torch.sigmoid(logit_real.detach().float()).mean()),
        "d_fake": float(torch.sigmoid(logit_fake.detach().float()).mean()),
        "noise_std": sigma,
    }


# ----------------------------------------------------------------------------------------------------
# data


def _validate_data(images: np.ndarray, labels: np.ndarray | None, config: TrainConfig, source: str):
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        got = f"dtype {images.dtype}, shape {images.shape}" if isinstance(images, np.ndarray) else type(images).__name__
        raise ValueError(f"training images from {source} must be uint8 (N, H, W, 3) in [0, 255]; got {got}")
    if len(images) < 2:
        raise ValueError(f"training data from {source} hold {len(images)} image(s); need at least 2")
    s = config.image_size
    if images.shape[1:3] != (s, s):
        raise ValueError(
            f"images from {source} are {images.shape[1]}x{images.shape[2]} pixels but the model expects "
            f"{s}x{s} (image_size={s}); resize them or set image_size"
        )
    if config.n_classes:
        if labels is None:
            raise ValueError(f"the cDCGAN needs class labels but {source} has none")
        labels = np.asarray(labels)
        if labels.shape != (len(images),):
            raise ValueError(f"labels from {source} must have shape ({len(images)},), got {labels.shape}")
        present = set(np.unique(labels).tolist())
        missing = [c for c in range(config.n_classes) if c not in present]
        if missing:
            names = {0: "negative", 1: "positive"}
            miss = ", ".join(f"{c} ({names.get(c, '?')})" for c in missing)
            raise ValueError(f"the cDCGAN needs images of every class, but {source} has none of class {miss}")
        if present - set(range(config.n_classes)):
            raise ValueError(f"labels from {source} must lie in [0, {config.n_classes}), got {sorted(present)}")
    return labels


def load_data(
    spec: str | os.PathLike,
    image_size: int = 64,
    *,
    n_demo: int = 8000,
    seed: int = 0,
    cache: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Load training images from the demo renderer, a patch manifest or a folder of PNGs.

    Args:
        spec: ``"demo"`` (``n_demo`` synthetic patches from :func:`histogan_lite.synthetic.make_patches`,
            half negative, half positive; cached as ``.npz`` in ``hl.data_dir()``), a ``.csv`` patch
            manifest from Chapter 1 (read with ``histogan_lite.datasets.load_manifest_images``; its
            patches are resized to ``image_size``), or a folder: with
            subfolders ``negative``/``positive`` (or ``0``/``1``) of image files giving the labels, or
            image files directly (no labels: DCGAN only).
        image_size: expected side in pixels (demo patches are rendered at this size).
        n_demo: number of demo patches.
        seed: seed of the demo renderer.
        cache: reuse / write the demo cache.

    Returns:
        ``(images, labels)``: uint8 ``(N, H, W, 3)`` in [0, 255], and int64 ``(N,)`` (0 negative,
        1 positive) or ``None`` when the source has no labels.

    Raises:
        FileNotFoundError: when the path does not exist.
        ValueError: naming the file, for a folder without images, an unreadable image, or an image
            of another size than ``image_size``.
    """
    if str(spec) == "demo":
        return _demo_data(image_size, n_demo, seed, cache)
    path = Path(spec)
    if not path.exists():
        raise FileNotFoundError(f"training data {path} not found; pass 'demo', a patch manifest .csv or a folder of images")
    if path.is_file() and path.suffix.lower() == ".csv":
        return _manifest_data(path, image_size)
    if path.is_dir():
        return _folder_data(path, image_size)
    raise ValueError(f"training data {path} must be 'demo', a patch manifest .csv or a folder of images")


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
CLASS_FOLDERS = {"negative": 0, "0": 0, "positive": 1, "1": 1}


def _read_images(files: list[Path], image_size: int) -> np.ndarray:
    from PIL import Image

    out = np.empty((len(files), image_size, image_size, 3), dtype=np.uint8)
    for i, f in enumerate(files):
        try:
            with Image.open(f) as im:
                arr = np.asarray(im.convert("RGB"))
        except Exception as exc:  # PIL raises many types for broken files
            raise ValueError(f"could not read image {f}: {exc}") from exc
        if arr.shape[:2] != (image_size, image_size):
            raise ValueError(f"image {f} is {arr.shape[1]}x{arr.shape[0]} pixels; expected {image_size}x{image_size} (image_size)")
        out[i] = arr
    return out


def _folder_data(folder: Path, image_size: int):
    subdirs = {d.name.lower(): d for d in folder.iterdir() if d.is_dir() and d.name.lower() in CLASS_FOLDERS}
    if subdirs:
        files, labels = [], []
        for name, d in sorted(subdirs.items()):
            fs = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            files += fs
            labels += [CLASS_FOLDERS[name]] * len(fs)
        if not files:
            raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in the class folders of {folder}")
        return _read_images(files, image_size), np.asarray(labels, dtype=np.int64)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(
            f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}; expected image files or class folders "
            "'negative'/'positive'"
        )
    return _read_images(files, image_size), None


def _manifest_data(manifest: Path, image_size: int):
    from .datasets import load_manifest_images

    images, labels = load_manifest_images(manifest, image_size=image_size)  # patches resized to image_size
    if len(images) == 0:
        raise ValueError(f"the manifest {manifest} lists no patches")
    return images, np.asarray(labels, dtype=np.int64)


def _demo_data(image_size: int, n: int, seed: int, cache: bool):
    from .utils import data_dir

    from . import synthetic

    # The renderer version is in the name: a cache written by another renderer is never read back.
    name = f"demo_patches_r{synthetic.GENERATOR_VERSION}_{image_size}px_{n}_seed{seed}.npz"
    path = data_dir() / name if cache else None
    if path is not None and path.exists():
        try:
            with np.load(path, allow_pickle=False) as f:
                return f["images"], f["labels"]
        except Exception:
            path.unlink()  # a broken cache is rebuilt
    images, truth = synthetic.make_patches(n, size=image_size, seed=seed)
    labels = np.asarray(truth["label"], dtype=np.int64)
    if path is not None:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, images=images, labels=labels)
    return images, labels


# ----------------------------------------------------------------------------------------------------
# the loop


def sample_grid(G: nn.Module, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Images ``(N, 3, H, W)`` in [-1, 1] for fixed ``z`` (and labels), on the CPU.

    :func:`histogan_lite.sampling.generate`: eval mode, no gradients, the mode G had is restored.
    """
    return generate(G, z, labels)


def _save_grid_png(x: torch.Tensor, path: Path, ncol: int) -> None:
    from PIL import Image

    from .utils import tensor_to_images

    imgs = tensor_to_images(x.clamp(-1, 1))
    n, h, w, _ = imgs.shape
    nrow = math.ceil(n / ncol)
    grid = np.full((nrow * (h + 2) + 2, ncol * (w + 2) + 2, 3), 255, dtype=np.uint8)
    for i, im in enumerate(imgs):
        r, c = divmod(i, ncol)
        grid[2 + r * (h + 2): 2 + r * (h + 2) + h, 2 + c * (w + 2): 2 + c * (w + 2) + w] = im
    with atomic_path(path) as tmp:
        Image.fromarray(grid).save(tmp, format="PNG")


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        G, D: the trained (unwrapped) models, G in eval mode.
        history: one row per step: ``step, loss_d, loss_g, d_real, d_fake, noise_std, seconds``.
        samples: list of ``(step, images)`` with float tensors ``(n_sample, 3, H, W)`` in [-1, 1] from
            the fixed z (for the cDCGAN the first half has label 0, the second label 1).
        config: the configuration that ran.
        checkpoint: path of the last checkpoint written, or None.
    """

    G: Generator
    D: Discriminator
    history: pd.DataFrame
    samples: list
    config: TrainConfig
    checkpoint: Path | None = None


def _dist_info() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def train(
    config: TrainConfig,
    data: tuple[np.ndarray, np.ndarray | None],
    *,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    device: str | torch.device = "auto",
    show_progress: bool = True,
    callback: Callable[[int, dict], None] | None = None,
    source: str = "data",
    max_seconds: float | None = None,
) -> TrainResult:
    """Train a DCGAN / cDCGAN (paper 3.1) for ``config.steps`` steps.

    Args:
        config: the run (see :class:`TrainConfig`, :func:`preset`).
        data: ``(images, labels)``: uint8 ``(N, H, W, 3)`` in [0, 255] with ``H = W = image_size``, and
            int64 ``(N,)`` class labels (required for the cDCGAN, may be None for the DCGAN); see
            :func:`load_data`.
        out: folder for ``checkpoint.safetensors/.json``, ``log.csv`` and ``samples/step_XXXXXX.png``;
            None keeps everything in memory (book chapters).
        resume: continue from ``out/checkpoint`` exactly (weights, optimizers, step, log). The
            checkpoint's configuration is used; only ``steps`` may be raised, and a
            ``noise_anneal_steps`` given in ``config`` (not None) replaces the instance-noise schedule
            from the resumed step on.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``... Under torchrun each process uses its local GPU.
        show_progress: show a tqdm bar (rank 0 only).
        callback: called after every step as ``callback(step, metrics)`` (for live plots).
        source: name of the data in error messages; ``"demo"`` also records the renderer version in
            checkpoints (``renderer_version``, :data:`histogan_lite.synthetic.GENERATOR_VERSION`).
        max_seconds: stop after this much wall time in this call, at a step boundary, and write a
            checkpoint there (continue later with ``resume=True``).

    Returns:
        A :class:`TrainResult`.

    Raises:
        ValueError: for bad data (wrong size, one class missing for the cDCGAN), or a checkpoint of
            another architecture when resuming.
        FileExistsError: when ``out`` already holds a checkpoint and ``resume`` is False.
        TrainingDiverged: when a loss becomes NaN/Inf or D stays saturated for
            ``config.divergence_patience`` steps; the last good checkpoint in ``out`` is kept.
    """
    import torch.distributed as dist

    images, labels = data
    labels = _validate_data(images, labels, config, source)
    out = Path(out) if out is not None else None
    ckpt_path = out / "checkpoint.safetensors" if out is not None else None
    if out is not None and not resume and (ckpt_path.exists() or checkpoint_paths(ckpt_path)[1].exists()):
        raise FileExistsError(f"{out} already holds a checkpoint; pass resume=True (--resume) or choose another folder")
    start = 0
    ckpt = None
    if resume:
        if ckpt_path is None or not checkpoint_paths(ckpt_path)[1].exists():
            raise FileNotFoundError(f"nothing to resume: no checkpoint in {out}")
        ckpt = Checkpoint.load(ckpt_path)
        steps = config.steps
        old = ckpt.config.to_dict()
        changes = {"steps": max(steps, ckpt.config.steps)}
        if config.noise_anneal_steps is not None:  # an explicit new noise schedule applies from here on
            changes["noise_anneal_steps"] = config.noise_anneal_steps
        config = TrainConfig.from_dict({**old, **changes})
        start = ckpt.step

    # resolve the annealing horizon once so a resumed run with more steps keeps the same schedule
    if config.noise_anneal_steps is None:
        config = dataclasses.replace(config, noise_anneal_steps=max(config.steps, 1))

    rank, world = _dist_info()
    if world == 1 and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        backend = "nccl" if torch.cuda.is_available() and str(device) != "cpu" else "gloo"
        dist.init_process_group(backend)
        rank, world = _dist_info()
    if world > 1 and torch.cuda.is_available() and str(device) != "cpu":
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = select_device(device)

    G, D = build_models(config, dev)
    opt_g, opt_d = make_optimizers(G, D, config)
    if ckpt is not None:
        ckpt.restore(G, D, opt_g, opt_d, source=ckpt_path)
    history: list[dict] = []
    if ckpt is not None and out is not None and (out / "log.csv").exists():
        old_log = pd.read_csv(out / "log.csv")
        history = old_log[old_log["step"] < start].to_dict("records")

    Gm, Dm = G, D
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [dev.index] if dev.type == "cuda" else None
        Gm, Dm = DDP(G, device_ids=ids), DDP(D, device_ids=ids)

    use_amp = config.amp and dev.type == "cuda"
    scalers = (torch.amp.GradScaler("cuda"), torch.amp.GradScaler("cuda")) if use_amp else None

    images_t = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)  # uint8 (N, 3, H, W)
    labels_t = torch.tensor(np.asarray(labels), dtype=torch.long) if labels is not None else None
    n_data = images_t.shape[0]
    batch = min(config.batch_size, n_data)

    fixed_z = sample_z(config.n_sample, config.latent_dim, seed=config.seed, prior=config.z_prior).to(dev)
    fixed_y = None
    if config.n_classes:
        fixed_y = torch.arange(config.n_sample, device=dev) * config.n_classes // config.n_sample
    samples = []

    def sync_buffers() -> None:
        # DDP averages gradients, so parameters agree on every rank; batch-norm running statistics are
        # updated by each rank's own last forward pass, so rank 0's are broadcast before they are saved
        if world > 1:
            for model in (G, D):
                for buf in model.buffers():
                    dist.broadcast(buf, src=0)

    def save_checkpoint(step_done: int, wall: float) -> Path | None:
        sync_buffers()
        if out is None or rank != 0:
            return None
        meta = {"wall_seconds": round(wall, 1),
                "cpu_seconds": round(prior_cpu + time.process_time() - c0, 1),  # this process's CPU time
                "renderer_version": GENERATOR_VERSION if source == "demo" else None,
                "device": str(dev), "world_size": world,
                "torch": torch.__version__, "platform": platform.platform(), "processor": platform.processor()}
        path = Checkpoint.capture(G, D, opt_g, opt_d, config, step_done, **meta).save(ckpt_path, overwrite=True)
        frame = pd.DataFrame(history)
        atomic_write_text(out / "log.csv", frame.to_csv(index=False))
        return path

    prior_wall = float(ckpt.meta.get("wall_seconds", 0.0)) if ckpt is not None else 0.0
    prior_cpu = float(ckpt.meta.get("cpu_seconds", 0.0)) if ckpt is not None else 0.0
    t0, c0 = time.perf_counter(), time.process_time()
    saturated = 0
    last_ckpt = ckpt_path if ckpt is not None else None
    bar = progress(range(start, config.steps), total=config.steps - start, initial=0,
                   desc=f"{config.model} {config.image_size}px", disable=not show_progress or rank != 0)
    G.train()
    D.train()
    for step in bar:
        gen = step_generator(config.seed, step, rank, dev)
        idx = torch.randperm(n_data, generator=gen, device=dev)[:batch].cpu()
        real = images_t[idx].to(dev).float().div_(127.5).sub_(1.0)  # uint8 -> [-1, 1]
        y = labels_t[idx].to(dev) if labels_t is not None and config.n_classes else None
        ts = time.perf_counter()
        metrics = train_step(Gm, Dm, opt_g, opt_d, real, y, config, step, gen, scalers)
        metrics = {"step": step, **metrics, "seconds": time.perf_counter() - ts}
        if not all(math.isfinite(metrics[k]) for k in ("loss_d", "loss_g")):
            where = f"; the last good checkpoint is {last_ckpt}" if last_ckpt else "; no checkpoint was written"
            raise TrainingDiverged(
                f"training diverged at step {step}: loss_d={metrics['loss_d']}, loss_g={metrics['loss_g']} "
                f"(NaN/Inf){where}. Try a lower learning rate, more instance noise or label smoothing."
            )
        saturated = saturated + 1 if min(metrics["d_fake"], metrics["d_real"]) < config.saturation_eps else 0
        if saturated >= config.divergence_patience:
            where = f"; the last good checkpoint is {last_ckpt}" if last_ckpt else "; no checkpoint was written"
            raise TrainingDiverged(
                f"training diverged at step {step}: D has been saturated for {saturated} steps "
                f"(D(x)={metrics['d_real']:.4f}, D(G(z))={metrics['d_fake']:.4f}, so G gets no useful gradient)"
                f"{where}. Try more instance noise, label smoothing or g_steps."
            )
        history.append(metrics)
        if callback is not None:
            callback(step, metrics)
        if rank == 0 and show_progress and (step % 10 == 0 or step == config.steps - 1):
            bar.set_postfix(loss_d=f"{metrics['loss_d']:.3f}", loss_g=f"{metrics['loss_g']:.3f}",
                            d_real=f"{metrics['d_real']:.2f}", d_fake=f"{metrics['d_fake']:.2f}", refresh=False)
        done = step + 1
        if config.sample_every and (done % config.sample_every == 0 or done == config.steps) and rank == 0:
            x = sample_grid(G, fixed_z, fixed_y)
            samples.append((done, x))
            if out is not None:
                _save_grid_png(x, out / "samples" / f"step_{done:06d}.png", ncol=int(math.ceil(math.sqrt(len(x)))))
        out_of_time = max_seconds is not None and time.perf_counter() - t0 >= max_seconds
        if world > 1 and max_seconds is not None:  # every rank stops at the same step
            flag = torch.tensor([float(out_of_time)], device=dev)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            out_of_time = bool(flag.item())
        if done == config.steps or out_of_time or (config.checkpoint_every and done % config.checkpoint_every == 0):
            p = save_checkpoint(done, prior_wall + time.perf_counter() - t0)
            last_ckpt = p or last_ckpt
        if out_of_time:
            break
    bar.close()
    final = last_ckpt
    sync_buffers()
    if world > 1:
        dist.barrier()
    G.eval()
    return TrainResult(G, D, pd.DataFrame(history, columns=["step", "loss_d", "loss_g", "d_real", "d_fake", "noise_std", "seconds"]),
                       samples, config, final)
