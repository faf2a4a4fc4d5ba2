"""Training the DCGAN / cDCGAN with the paper's tricks, and checkpoints (paper sections 3.1, 3.1.1).

One training *step* is one discriminator update followed by ``g_steps`` generator updates (the paper:
2). Its ingredients, each a field of :class:`TrainConfig` so a chapter can switch it off:

* eq. (1): D minimises the cross-entropy of real images (target 1, or ``real_label`` = 0.9 with
  one-sided label smoothing) and generated images (target 0, never smoothed);
* eq. (4): G minimises the non-saturating loss -log D(G(z)) (generated samples get target 1);
* instance noise: Gaussian noise of standard deviation ``instance_noise`` (in the [-1, 1] image scale)
  is added to every image D sees, annealed linearly to zero;
* z is drawn uniform in [-1, 1] (:func:`histogan_lite.sampling.sample_z`);
* Adam, learning rate 2e-4, betas (0.5, 0.999), batch 64 (Radford et al.; the paper).

Every random draw of step ``t`` (the real batch, z, the cDCGAN's generated labels, the noise) comes
from a generator seeded with ``(seed, rank, t)``, so a run is reproducible on the CPU and ``resume``
continues exactly where a checkpoint left off. Checkpoints are a pair of files: ``<stem>.safetensors``
(weights and optimizer tensors, no pickle) and ``<stem>.json`` (configuration, step, SHA-256 of the
weights file), both written atomically.

Under ``torchrun`` (environment variable ``WORLD_SIZE`` > 1) the models are wrapped in
``DistributedDataParallel`` (nccl on GPUs, gloo on CPUs); ``batch_size`` is then per process.

The configuration and presets live in :mod:`histogan_lite.config`, the losses and the instance-noise
schedule in :mod:`histogan_lite.losses`, checkpoint I/O in :mod:`histogan_lite.checkpoints`; their names
stay importable from here (``training.TrainConfig``, ``training.discriminator_loss``, ...).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd
import torch
from torch import nn

from torch.utils.data import Dataset, Sampler

from .checkpoints import (  # noqa: F401  (old names, importable from here)
    CHECKPOINT_FORMAT, CHECKPOINT_VERSION, Checkpoint, _describe, _load_state_checked, _optimizer_state,
    _optimizer_tensors, _paths, _read_json, _read_tensors, _sha256, checkpoint_paths, load_generator_checkpoint,
    save_generator)
from .config import MODELS, PRESETS, SPEEDS, TrainConfig, preset  # noqa: F401  (moved there, importable from here)
from .datasets import as_dataset, load_data, loader  # noqa: F401  (load_data: old name, importable from here)
from .losses import _bce, discriminator_loss, generator_loss, noise_std_at, r1_penalty  # noqa: F401  (moved there, importable from here)
from .ema import GeneratorEMA
from .models import Discriminator, Generator
from .sampling import generate, sample_z
from .synthetic import GENERATOR_VERSION
from .utils import atomic_path, atomic_write_text, progress, select_device, tensor_to_images

__all__ = [
    "TrainConfig", "preset", "PRESETS", "TrainingDiverged", "TrainResult", "build_models", "make_optimizers",
    "noise_std_at", "step_generator", "discriminator_loss", "generator_loss", "train_step", "step_draws",
    "Speed", "resolve_speed", "cpu_has_native_bf16", "apply_speed", "discriminator_pass", "generator_pass",
    "optimizer_update", "train", "Checkpoint", "load_generator_checkpoint", "save_generator", "load_data",
    "StepBatches",
]


class TrainingDiverged(RuntimeError):
    """Raised when the losses become NaN/Inf or D stays saturated; the last good checkpoint is kept."""


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


def step_generator(seed: int, step: int, rank: int = 0, device: str | torch.device = "cpu") -> torch.Generator:
    """The random generator for one training step, seeded from ``(seed, rank, step)``.

    Deriving each step's randomness from its index (not from a running state) is what lets ``resume``
    and a second run with the same seed reproduce the losses exactly on the CPU.
    """
    state = np.random.SeedSequence([int(seed), int(rank), int(step)]).generate_state(2, dtype=np.uint32)
    gen = torch.Generator(device=device)
    gen.manual_seed(int(state[0]) << 31 ^ int(state[1]))
    return gen


# What ``speed="auto"`` picks on the CPU: the fastest setting whose losses stayed within 2 % of the float32
# step on the same draws in benchmarks/bench_training.py (BENCHMARKS.md): channels_last + bfloat16 (1.45-2.1x
# plain float32 on this project's CPU, AVX512-BF16; torch.compile adds 8-11 s and no speed: 0.98-1.35x). A CPU
# without native bfloat16 (no avx512_bf16 / amx_bf16 flag) emulates it, so there "auto" keeps channels_last.
CPU_AUTO = "channels_last+bf16"
CPU_AUTO_NO_BF16 = "channels_last"


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX-BF16 in /proc/cpuinfo's flags)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:  # no /proc (macOS, Windows): assume emulated
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


@dataclass(frozen=True)
class Speed:
    """How a training step runs on its device; it changes the speed, not the equations.

    Attributes:
        channels_last: images and 4-D weights in NHWC memory order (oneDNN's fast convolutions).
        autocast: ``torch.float16`` (CUDA, with a GradScaler), ``torch.bfloat16`` (no scaler needed:
            bfloat16 has float32's exponent range) or ``None`` (float32 everywhere).
        compile: G and D run through ``torch.compile`` (a one-off compile of tens of seconds).
    """

    channels_last: bool = False
    autocast: torch.dtype | None = None
    compile: bool = False

    def precision(self, device_type: str):
        """The autocast context of one forward pass (a no-op in float32)."""
        return torch.autocast(device_type=device_type, dtype=self.autocast or torch.float32,
                              enabled=self.autocast is not None)


def resolve_speed(config: TrainConfig, device: str | torch.device) -> Speed:
    """The :class:`Speed` that ``config.speed`` means on ``device``.

    ``"plain"``: float32, NCHW, eager. ``"auto"``: on CUDA float16 autocast with a GradScaler when
    ``config.amp`` (else plain); on the CPU :data:`CPU_AUTO`, or :data:`CPU_AUTO_NO_BF16` without
    native bfloat16 (:func:`cpu_has_native_bf16`). Otherwise a ``"+"``-joined subset of
    ``channels_last``, ``bf16`` (bfloat16 autocast) and ``compile``, e.g. ``"channels_last+bf16"``.
    ``config.amp`` only affects ``"auto"`` on CUDA.
    """
    cuda = torch.device(device).type == "cuda"
    spec = config.speed
    if spec == "auto":
        if cuda:
            return Speed(autocast=torch.float16 if config.amp else None)
        spec = CPU_AUTO if cpu_has_native_bf16() else CPU_AUTO_NO_BF16
    parts = set() if spec == "plain" else set(spec.split("+"))
    return Speed("channels_last" in parts, torch.bfloat16 if "bf16" in parts else None, "compile" in parts)


def apply_speed(G: nn.Module, D: nn.Module, speed: Speed) -> tuple[nn.Module, nn.Module]:
    """Put G and D in ``speed``'s memory order (in place) and return the modules the step should call
    (``torch.compile`` wrappers sharing the same parameters, or G and D themselves)."""
    if speed.channels_last:
        G.to(memory_format=torch.channels_last)
        D.to(memory_format=torch.channels_last)
    if speed.compile:
        return torch.compile(G), torch.compile(D)
    return G, D


def discriminator_pass(G, D, real, y_real: tuple, draw: Callable, noisy: Callable, real_label: float,
                       r1_gamma: float = 0.0):
    """The forward pass of one D update: eq. (1) on a real and a generated batch.

    ``draw()`` returns ``(z, y_fake)`` with ``y_fake`` = ``(labels,)`` for the cDCGAN, ``()`` for the
    DCGAN (``y_real`` likewise); ``noisy`` adds instance noise; ``r1_gamma`` > 0 adds the R1 penalty
    ``gamma / 2 * ||grad_x D(x)||^2`` on the (noised) real batch (:func:`~histogan_lite.losses.r1_penalty`).
    Returns ``(loss, (logits_real, logits_fake))``.
    """
    z, y_fake = draw()
    with torch.no_grad():  # D's update needs no gradient through G
        fake = G(z, *y_fake)
    x = noisy(real).detach().requires_grad_(True) if r1_gamma else noisy(real)
    logits_real, logits_fake = D(x, *y_real), D(noisy(fake), *y_fake)
    loss = discriminator_loss(logits_real, logits_fake, real_label)  # eq. (1)
    return (loss + r1_gamma / 2 * r1_penalty(logits_real, x) if r1_gamma else loss), (logits_real, logits_fake)


def generator_pass(G, D, draw: Callable, noisy: Callable, kind: str = "non-saturating"):
    """The forward pass of one G update: eq. (4), -log D(G(z)) on a fresh batch. Returns ``(loss, None)``."""
    z, y_fake = draw()
    fake = G(z, *y_fake)
    return generator_loss(D(noisy(fake), *y_fake), kind), None  # eq. (4)


def optimizer_update(opt: torch.optim.Optimizer, forward: Callable, speed: Speed, device_type: str, scaler=None):
    """One update: ``forward()`` under the step's precision, backward, ``opt.step()``.

    The one place mixed precision lives: with a ``torch.amp.GradScaler`` (float16 on CUDA) the loss is
    scaled before backward and the step skipped on Inf gradients; bfloat16 and float32 need no scaler.
    Returns ``(loss detached, whatever forward returned beside the loss)``.
    """
    with speed.precision(device_type):
        loss, extra = forward()
    opt.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        opt.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    return loss.detach(), extra


def step_draws(config: TrainConfig, n: int, gen: torch.Generator, sigma: float) -> tuple[Callable, Callable]:
    """The step's two sources of randomness, both drawing from ``gen`` (so a step is reproducible).

    Returns ``(draw, noisy)``: ``draw()`` gives ``(z, y)``, z ``(n, latent_dim)`` from the run's prior and
    ``y`` = ``(labels,)`` random classes for the cDCGAN, ``()`` for the DCGAN; ``noisy(x)`` adds instance
    noise N(0, sigma^2) to an image batch D is about to see (paper 3.1.1, point 2).
    """
    device = gen.device

    def draw():
        z = sample_z(n, config.latent_dim, generator=gen, prior=config.z_prior)
        y = (torch.randint(0, config.n_classes, (n,), generator=gen, device=device),) if config.n_classes else ()
        return z, y

    def noisy(x):
        if sigma == 0.0:
            return x
        return x + sigma * torch.randn(x.shape, generator=gen, device=device, dtype=x.dtype)

    return draw, noisy


def train_step(G: nn.Module, D: nn.Module, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
               real: torch.Tensor, labels: torch.Tensor | None, config: TrainConfig, step: int,
               gen: torch.Generator, scalers: tuple | None = None, speed: Speed | None = None) -> dict:
    """One step: one D update (eq. 1) then ``config.g_steps`` G updates (eq. 4).

    Args:
        G, D: the models (possibly wrapped in DistributedDataParallel or ``torch.compile``), in train mode.
        opt_g, opt_d: their optimizers.
        real: float32 ``(N, 3, H, W)`` in [-1, 1], the real batch, on the models' device.
        labels: int64 ``(N,)`` classes of the real batch (cDCGAN), else ``None``.
        config: the run's configuration (tricks, n_classes, latent_dim).
        step: index of this step (sets the instance-noise level).
        gen: the step's random generator (see :func:`step_generator`), on the models' device.
        scalers: ``(scaler_d, scaler_g)`` ``torch.amp.GradScaler`` for float16 on CUDA, or None.
        speed: the step's :class:`Speed`; None = float32, or float16 autocast when ``scalers`` are given.

    Returns:
        dict with floats ``loss_d`` (eq. 1 with smoothing), ``loss_g`` (eq. 4, mean over the G
        updates), ``d_real`` (mean D(x), probability), ``d_fake`` (mean D(G(z)) before the G updates)
        and ``noise_std``.

    Every random draw comes from ``gen`` in a fixed order (z, y, noise on x, noise on G(z); then z, y,
    noise for each G update), so a step is reproducible and every ``speed`` sees the same draws.
    G's updates run with D's weights frozen: backward then computes only the gradient through D's
    inputs (what G needs); under DDP the unwrapped D is used, so D's gradients are not synchronised.
    """
    speed = speed or Speed(autocast=torch.float16 if scalers is not None else None)
    scaler_d, scaler_g = scalers if scalers is not None else (None, None)
    sigma, on = noise_std_at(config, step), real.device.type
    draw, noisy = step_draws(config, real.shape[0], gen, sigma)
    y_real = (labels,) if config.n_classes else ()
    d_pass = lambda: discriminator_pass(G, D, real, y_real, draw, noisy, config.real_label, config.r1_gamma)  # noqa: E731
    loss_d, (logit_real, logit_fake) = optimizer_update(opt_d, d_pass, speed, on, scaler_d)  # eq. (1)
    D_g = getattr(D, "module", D)
    g_pass = lambda: generator_pass(G, D_g, draw, noisy, config.generator_loss)  # noqa: E731
    D_g.requires_grad_(False)
    try:
        losses_g = [float(optimizer_update(opt_g, g_pass, speed, on, scaler_g)[0]) for _ in range(config.g_steps)]
    finally:
        D_g.requires_grad_(True)
    return {
        "loss_d": float(loss_d),
        "loss_g": sum(losses_g) / config.g_steps,  # eq. (4), mean over the G updates
        "d_real": float(torch.sigmoid(logit_real.detach().float()).mean()),
        "d_fake": float(torch.sigmoid(logit_fake.detach().float()).mean()),
        "noise_std": sigma,
    }


# ----------------------------------------------------------------------------------------------------
# data


def _validate_data(ds: Dataset, config: TrainConfig, source: str) -> None:
    """Check a training dataset against the model before any step: size, count, classes."""
    if len(ds) < 2:
        raise ValueError(f"training data from {source} hold {len(ds)} image(s); need at least 2")
    first = ds[0][0]
    s = config.image_size
    if not isinstance(first, torch.Tensor) or first.ndim != 3 or first.shape[0] != 3:
        got = tuple(first.shape) if isinstance(first, torch.Tensor) else type(first).__name__
        raise ValueError(f"training images from {source} must be float tensors (3, H, W) in [-1, 1]; got {got}")
    if tuple(first.shape[1:]) != (s, s):
        raise ValueError(
            f"images from {source} are {first.shape[1]}x{first.shape[2]} pixels but the model expects "
            f"{s}x{s} (image_size={s}); resize them or set image_size"
        )
    if config.n_classes:
        labels = getattr(ds, "labels", None)
        if labels is None:
            raise ValueError(f"the cDCGAN needs class labels but {source} has none")
        present = set(np.unique(np.asarray(labels)).tolist())
        missing = [c for c in range(config.n_classes) if c not in present]
        if missing:
            names = {0: "negative", 1: "positive"}
            miss = ", ".join(f"{c} ({names.get(c, '?')})" for c in missing)
            raise ValueError(f"the cDCGAN needs images of every class, but {source} has none of class {miss}")
        if present - set(range(config.n_classes)):
            raise ValueError(f"labels from {source} must lie in [0, {config.n_classes}), got {sorted(present)}")


class StepBatches(Sampler):
    """The real batches of steps ``start .. steps - 1`` as index lists, for a DataLoader.

    Step ``t`` takes ``torch.randperm(n, generator=step_generator(seed, t, rank, device))[:batch_size]``
    (all ``n`` when fewer): the draw the step's own generator makes first, so streaming from disk picks
    exactly the images that indexing an in-memory array did (the loop repeats the draw to advance its
    generator; see :func:`train`).
    """

    def __init__(self, n: int, batch_size: int, seed: int, rank: int, device, start: int, steps: int):
        self.n, self.batch_size, self.seed, self.rank, self.device = n, batch_size, seed, rank, device
        self.start, self.steps = start, steps

    def __len__(self) -> int:
        return max(self.steps - self.start, 0)

    def __iter__(self):
        for t in range(self.start, self.steps):
            gen = step_generator(self.seed, t, self.rank, self.device)
            yield torch.randperm(self.n, generator=gen, device=self.device)[:self.batch_size].cpu().tolist()


# ----------------------------------------------------------------------------------------------------
# the loop


def _save_grid_png(x: torch.Tensor, path: Path, ncol: int) -> None:
    from PIL import Image

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
        G, D: the trained (unwrapped) models, G in eval mode; with ``config.g_ema`` G is the moving
            average of the trained generator (:mod:`histogan_lite.ema`), the one to sample from.
        G_raw: the trained generator itself (the same object as ``G`` when ``g_ema`` is 0).
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
    G_raw: Generator | None = None


def _dist_info() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


@dataclass
class _Run:
    """Everything the loop of :func:`train` needs, built by :func:`_setup_run`."""

    config: TrainConfig
    G: Generator
    D: Discriminator
    Gm: nn.Module  # G as the step runs it (DDP- and/or torch.compile-wrapped)
    Dm: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    speed: Speed
    scalers: tuple | None
    dev: torch.device
    rank: int
    world: int
    dataset: Dataset  # items (float32 (3, H, W) in [-1, 1], int64 label)
    batches: Iterator  # a DataLoader over dataset with StepBatches: one real batch per step
    start: int
    history: list
    out: Path | None
    ckpt_path: Path | None
    last_ckpt: Path | None
    prior_wall: float
    prior_cpu: float
    source: str
    fixed_z: torch.Tensor
    fixed_y: torch.Tensor | None
    ema: GeneratorEMA | None = None
    keep_checkpoints: bool = False  # also keep every checkpoint as out/checkpoints/step_XXXXXX

    @property
    def G_sample(self) -> Generator:
        """The generator that samples: the moving average when ``g_ema`` is on, else G."""
        return self.ema.module if self.ema is not None else self.G

    def batch(self, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The step's real batch: float32 ``(B, 3, H, W)`` in [-1, 1] on the device, and its labels.

        The DataLoader's :class:`StepBatches` drew the indices with this step's generator; the same draw
        here advances ``gen`` past it, so z and the noise are those of an in-memory run.
        """
        torch.randperm(len(self.dataset), generator=gen, device=self.dev)
        real, y = next(self.batches)
        real = real.to(self.dev, non_blocking=True)
        if self.speed.channels_last:
            real = real.contiguous(memory_format=torch.channels_last)
        y = y.to(self.dev, non_blocking=True) if self.config.n_classes else None
        return real, y

    def sync_buffers(self) -> None:
        # DDP averages gradients, so parameters agree on every rank; batch-norm running statistics are
        # updated by each rank's own last forward pass, so rank 0's are broadcast before they are saved
        if self.world > 1:
            import torch.distributed as dist

            for model in (self.G, self.D):
                for buf in model.buffers():
                    dist.broadcast(buf, src=0)

    def save_checkpoint(self, step_done: int, wall: float, cpu: float) -> None:
        """Write ``out/checkpoint`` and ``out/log.csv`` after ``step_done`` steps (rank 0; buffers synced first)."""
        self.sync_buffers()
        if self.out is None or self.rank != 0:
            return
        meta = {"wall_seconds": round(self.prior_wall + wall, 1),
                "cpu_seconds": round(self.prior_cpu + cpu, 1),  # this process's CPU time
                "renderer_version": GENERATOR_VERSION if self.source == "demo" else None,
                "device": str(self.dev), "world_size": self.world,
                "torch": torch.__version__, "platform": platform.platform(), "processor": platform.processor()}
        G, D = self.G, self.D
        ckpt = Checkpoint.capture(G, D, self.opt_g, self.opt_d, self.config, step_done, ema=self.ema, **meta)
        self.last_ckpt = ckpt.save(self.ckpt_path, overwrite=True)
        if self.keep_checkpoints:  # GAN quality is not monotone in the step: keep each one to choose from
            ckpt.save(self.out / "checkpoints" / f"step_{step_done:06d}", overwrite=True)
        atomic_write_text(self.out / "log.csv", pd.DataFrame(self.history).to_csv(index=False))


def _resume_config(config: TrainConfig, out: Path | None, resume: bool):
    """``(config, checkpoint or None, checkpoint path)``: the configuration a (resumed) run uses."""
    ckpt_path = out / "checkpoint.safetensors" if out is not None else None
    if out is not None and not resume and (ckpt_path.exists() or checkpoint_paths(ckpt_path)[1].exists()):
        raise FileExistsError(f"{out} already holds a checkpoint; pass resume=True (--resume) or choose another folder")
    ckpt = None
    if resume:
        if ckpt_path is None or not checkpoint_paths(ckpt_path)[1].exists():
            raise FileNotFoundError(f"nothing to resume: no checkpoint in {out}")
        ckpt = Checkpoint.load(ckpt_path)
        changes = {"steps": max(config.steps, ckpt.config.steps), "speed": config.speed}
        if config.noise_anneal_steps is not None:  # an explicit new noise schedule applies from here on
            changes["noise_anneal_steps"] = config.noise_anneal_steps
        config = TrainConfig.from_dict({**ckpt.config.to_dict(), **changes})
    # resolve the annealing horizon once so a resumed run with more steps keeps the same schedule
    if config.noise_anneal_steps is None:
        config = dataclasses.replace(config, noise_anneal_steps=max(config.steps, 1))
    return config, ckpt, ckpt_path


def _select_process_device(device) -> tuple[torch.device, int, int]:
    """``(device, rank, world size)``; starts the process group under torchrun."""
    import torch.distributed as dist

    rank, world = _dist_info()
    if world == 1 and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group("nccl" if torch.cuda.is_available() and str(device) != "cpu" else "gloo")
        rank, world = _dist_info()
    if world > 1 and torch.cuda.is_available() and str(device) != "cpu":
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        return torch.device("cuda", local), rank, world
    return select_device(device), rank, world


def _setup_run(config, data, out, resume, device, source, num_workers=0) -> _Run:
    """Validate the data, resume or build models and optimizers, wrap them for the device, and open the
    stream of real batches."""
    ds = as_dataset(data, source)
    _validate_data(ds, config, source)
    out = Path(out) if out is not None else None
    config, ckpt, ckpt_path = _resume_config(config, out, resume)
    dev, rank, world = _select_process_device(device)
    speed = resolve_speed(config, dev)
    G, D = build_models(config, dev)
    Gm, Dm = apply_speed(G, D, speed)
    opt_g, opt_d = make_optimizers(G, D, config)
    ema = GeneratorEMA(G, config.g_ema) if config.g_ema else None
    history: list[dict] = []
    start = 0
    if ckpt is not None:
        ckpt.restore(G, D, opt_g, opt_d, source=ckpt_path, ema=ema)
        start = ckpt.step
        if out is not None and (out / "log.csv").exists():
            old_log = pd.read_csv(out / "log.csv")
            history = old_log[old_log["step"] < start].to_dict("records")
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [dev.index] if dev.type == "cuda" else None
        Gm, Dm = DDP(Gm, device_ids=ids), DDP(Dm, device_ids=ids)
    scalers = (torch.amp.GradScaler("cuda"), torch.amp.GradScaler("cuda")) if speed.autocast == torch.float16 else None
    sampler = StepBatches(len(ds), config.batch_size, config.seed, rank, dev, start, config.steps)
    batches = iter(loader(ds, batch_sampler=sampler, num_workers=num_workers, device=dev))
    fixed_z = sample_z(config.n_sample, config.latent_dim, seed=config.seed, prior=config.z_prior).to(dev)
    fixed_y = torch.arange(config.n_sample, device=dev) * config.n_classes // config.n_sample if config.n_classes else None
    prior_wall = float(ckpt.meta.get("wall_seconds", 0.0)) if ckpt is not None else 0.0
    prior_cpu = float(ckpt.meta.get("cpu_seconds", 0.0)) if ckpt is not None else 0.0
    return _Run(config, G, D, Gm, Dm, opt_g, opt_d, speed, scalers, dev, rank, world, ds, batches, start,
                history, out, ckpt_path, ckpt_path if ckpt is not None else None, prior_wall, prior_cpu, source,
                fixed_z, fixed_y, ema)


def _check_diverged(metrics: dict, step: int, saturated: int, config: TrainConfig, last_ckpt) -> int:
    """Raise :class:`TrainingDiverged` on NaN/Inf losses or a D saturated for too long; returns the new
    count of consecutive saturated steps."""
    where = f"; the last good checkpoint is {last_ckpt}" if last_ckpt else "; no checkpoint was written"
    if not all(math.isfinite(metrics[k]) for k in ("loss_d", "loss_g")):
        raise TrainingDiverged(
            f"training diverged at step {step}: loss_d={metrics['loss_d']}, loss_g={metrics['loss_g']} "
            f"(NaN/Inf){where}. Try a lower learning rate, more instance noise or label smoothing."
        )
    saturated = saturated + 1 if min(metrics["d_fake"], metrics["d_real"]) < config.saturation_eps else 0
    if saturated >= config.divergence_patience:
        raise TrainingDiverged(
            f"training diverged at step {step}: D has been saturated for {saturated} steps "
            f"(D(x)={metrics['d_real']:.4f}, D(G(z))={metrics['d_fake']:.4f}, so G gets no useful gradient)"
            f"{where}. Try more instance noise, label smoothing or g_steps."
        )
    return saturated


def _out_of_time(run: _Run, t0: float, max_seconds: float | None) -> bool:
    out_of_time = max_seconds is not None and time.perf_counter() - t0 >= max_seconds
    if run.world > 1 and max_seconds is not None:  # every rank stops at the same step
        import torch.distributed as dist

        flag = torch.tensor([float(out_of_time)], device=run.dev)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        out_of_time = bool(flag.item())
    return out_of_time


def train(
    config: TrainConfig,
    data: Dataset | tuple[np.ndarray, np.ndarray | None],
    *,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    device: str | torch.device = "auto",
    show_progress: bool = True,
    callback: Callable[[int, dict], None] | None = None,
    source: str | None = None,
    max_seconds: float | None = None,
    num_workers: int = 0,
    keep_checkpoints: bool = False,
) -> TrainResult:
    """Train a DCGAN / cDCGAN (paper 3.1) for ``config.steps`` steps: setup, then the loop of steps.

    Args:
        config: the run (see :class:`TrainConfig`, :func:`preset`).
        data: a dataset from :func:`histogan_lite.datasets.open_data` (items ``float32 (3, H, W)`` in
            [-1, 1] with ``H = W = image_size``; its ``labels`` attribute, int64 ``(N,)``, is required for
            the cDCGAN), streamed in batches through a ``DataLoader``; or ``(images, labels)`` in memory:
            uint8 ``(N, H, W, 3)`` in [0, 255] and int64 ``(N,)`` labels or None (DCGAN only). Step ``t``
            draws the same images from either form (:class:`StepBatches`).
        out: folder for ``checkpoint.safetensors/.json``, ``log.csv`` and ``samples/step_XXXXXX.png``;
            None keeps everything in memory (book chapters).
        resume: continue from ``out/checkpoint`` exactly (weights, optimizers, step, log). The
            checkpoint's configuration is used; only ``steps`` may be raised, ``speed`` is the one given
            here, and a ``noise_anneal_steps`` given in ``config`` (not None) replaces the
            instance-noise schedule from the resumed step on.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``... Under torchrun each process uses its local GPU.
        show_progress: show a tqdm bar (rank 0 only).
        callback: called after every step as ``callback(step, metrics)`` (for live plots).
        source: name of the data in error messages (default: the dataset's ``source``, the data spec, or
            ``"data"``); ``"demo"`` also records the renderer version in checkpoints
            (``renderer_version``, :data:`histogan_lite.synthetic.GENERATOR_VERSION`).
        max_seconds: stop after this much wall time in this call, at a step boundary, and write a
            checkpoint there (continue later with ``resume=True``).
        num_workers: DataLoader reader processes (0: read in this process; on-disk sources on a GPU
            want a few). Batches go to pinned memory on CUDA.
        keep_checkpoints: also write every checkpoint to ``out/checkpoints/step_XXXXXX.safetensors/.json``
            (a GAN's last step is rarely its best; score them with ``data_scripts/score_checkpoints.py``).

    Returns:
        A :class:`TrainResult`.

    Raises:
        ValueError: for bad data (wrong size, one class missing for the cDCGAN), or a checkpoint of
            another architecture when resuming.
        FileExistsError: when ``out`` already holds a checkpoint and ``resume`` is False.
        TrainingDiverged: when a loss becomes NaN/Inf or D stays saturated for
            ``config.divergence_patience`` steps; the last good checkpoint in ``out`` is kept.
    """
    if source is None:
        source = getattr(data, "source", None) or "data"
    run = _setup_run(config, data, out, resume, device, source, num_workers)
    run.keep_checkpoints = keep_checkpoints
    config, t0, c0, saturated, samples = run.config, time.perf_counter(), time.process_time(), 0, []
    bar = progress(range(run.start, config.steps), total=config.steps - run.start, initial=0,
                   desc=f"{config.model} {config.image_size}px", disable=not show_progress or run.rank != 0)
    # hand calls on purpose: the training loop itself; G and D are this run's own (built or resumed by
    # _setup_run), and the sample grids in the loop go through generate(), which restores train mode
    run.G.train()
    run.D.train()  # on purpose: as G above
    for step in bar:
        gen = step_generator(config.seed, step, run.rank, run.dev)
        real, y = run.batch(gen)
        ts = time.perf_counter()
        metrics = train_step(run.Gm, run.Dm, run.opt_g, run.opt_d, real, y, config, step, gen, run.scalers, run.speed)
        if run.ema is not None:
            run.ema.update_parameters(run.G)
        metrics = {"step": step, **metrics, "seconds": time.perf_counter() - ts}
        saturated = _check_diverged(metrics, step, saturated, config, run.last_ckpt)
        run.history.append(metrics)
        if callback is not None:
            callback(step, metrics)
        if run.rank == 0 and show_progress and (step % 10 == 0 or step == config.steps - 1):
            bar.set_postfix(loss_d=f"{metrics['loss_d']:.3f}", loss_g=f"{metrics['loss_g']:.3f}",
                            d_real=f"{metrics['d_real']:.2f}", d_fake=f"{metrics['d_fake']:.2f}", refresh=False)
        done = step + 1
        if config.sample_every and (done % config.sample_every == 0 or done == config.steps) and run.rank == 0:
            x = generate(run.G_sample, run.fixed_z, run.fixed_y)
            samples.append((done, x))
            if run.out is not None:
                _save_grid_png(x, run.out / "samples" / f"step_{done:06d}.png", ncol=int(math.ceil(math.sqrt(len(x)))))
        out_of_time = _out_of_time(run, t0, max_seconds)
        if done == config.steps or out_of_time or (config.checkpoint_every and done % config.checkpoint_every == 0):
            run.save_checkpoint(done, time.perf_counter() - t0, time.process_time() - c0)
        if out_of_time:
            break
    bar.close()
    run.sync_buffers()
    if run.world > 1:
        import torch.distributed as dist

        dist.barrier()
    run.G.eval()  # on purpose: the trained G is returned ready for sampling (TrainResult: G in eval mode)
    history = pd.DataFrame(run.history, columns=["step", "loss_d", "loss_g", "d_real", "d_fake", "noise_std", "seconds"])
    return TrainResult(run.G_sample, run.D, history, samples, config, run.last_ckpt, run.G)
