"""The configuration of a training run: :class:`TrainConfig` (the paper's defaults, section 3.1.1) and its presets.

Split out of :mod:`histogan_lite.training` (issue 14: one idea per module); every name here is still
importable from there (``training.TrainConfig``, ``training.preset``, ``training.PRESETS``). The
configuration is what a checkpoint's JSON stores (:mod:`histogan_lite.checkpoints`), so it has no
dependency on the training loop.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .models import IMAGE_SIZES, KERNEL_SIZES, LABEL_IN, UPSAMPLES, Z_PRIORS
from .utils import check_int, check_lr, check_nonnegative, check_real_label

__all__ = ["TrainConfig", "preset", "PRESETS", "MODELS", "SPEEDS"]

MODELS = {"dcgan": 0, "cdcgan": 2}
SPEEDS = ("channels_last", "bf16", "compile")  # TrainConfig.speed's parts, see resolve_speed


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
        amp: use automatic mixed precision (float16 with a GradScaler) on CUDA when ``speed="auto"``.
        speed: how the step runs, not what it computes (:func:`resolve_speed`): ``"auto"`` (per device:
            float16 AMP on CUDA, the measured fastest sane setting on the CPU), ``"plain"`` (float32,
            eager) or a ``"+"``-joined subset of ``channels_last``, ``bf16``, ``compile``.
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
        g_ema: decay of an exponential moving average of G's weights and batch-norm statistics
            (:mod:`histogan_lite.ema`; Yazici et al. 2019; not in the paper), e.g. 0.999; 0 = off. When on,
            the averaged G draws the sample grids, is what :func:`~histogan_lite.checkpoints.load_generator_checkpoint`
            returns from a training checkpoint and is ``TrainResult.G``; the trained G is ``TrainResult.G_raw``.
        r1_gamma: weight gamma of the R1 penalty ``gamma / 2 * E ||grad_x D(x)||^2`` on real images added to
            eq. (1) (Mescheder et al. 2018; not in the paper); 0 = off. Needs a double backward through D,
            so it cannot run under ``torch.compile`` (``speed`` with ``compile``).
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
    speed: str = "auto"
    divergence_patience: int = 200
    saturation_eps: float = 1e-3
    upsample: str = "transposed"
    kernel_size: int = 5
    z_prior: str = "uniform"
    d_spectral_norm: bool = False
    d_label_in: str = "first-conv"
    lr_d: float | None = None
    lr_g: float | None = None
    g_ema: float = 0.0
    r1_gamma: float = 0.0

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
        # the shared checks (histogan_lite.utils) that every other entry point taking these uses
        for name in ("batch_size", "g_steps", "latent_dim", "divergence_patience"):
            check_int(getattr(self, name), name)
        for name in ("steps", "sample_every", "checkpoint_every", "seed"):
            check_int(getattr(self, name), name, minimum=0)
        if self.batch_size < 2:
            raise ValueError("batch_size must be >= 2 (batch norm needs more than one sample)")
        check_real_label(self.real_label)
        check_lr(self.lr)
        check_nonnegative(self.instance_noise, "instance_noise")
        if self.noise_anneal_steps is not None and self.noise_anneal_steps < 1:
            raise ValueError(f"noise_anneal_steps must be None or >= 1, got {self.noise_anneal_steps!r}")
        parts = self.speed.split("+") if isinstance(self.speed, str) else [None]
        if self.speed not in ("auto", "plain") and (not set(parts) <= set(SPEEDS) or len(set(parts)) != len(parts)):
            raise ValueError(f"speed must be 'auto', 'plain' or a '+'-joined subset of {SPEEDS}, got {self.speed!r}")
        if self.generator_loss not in ("non-saturating", "saturating"):
            raise ValueError(f"generator_loss must be 'non-saturating' (eq. 4) or 'saturating' (eq. 2), got {self.generator_loss!r}")
        for name, choices in (("upsample", UPSAMPLES), ("kernel_size", KERNEL_SIZES), ("z_prior", Z_PRIORS),
                              ("d_label_in", LABEL_IN)):
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {getattr(self, name)!r}")
        if not isinstance(self.d_spectral_norm, bool):
            raise ValueError(f"d_spectral_norm must be True or False, got {self.d_spectral_norm!r}")
        for name in ("lr_d", "lr_g"):
            check_lr(getattr(self, name), name, none_means="lr")
        if not isinstance(self.g_ema, (int, float)) or isinstance(self.g_ema, bool) or not 0.0 <= self.g_ema < 1.0:
            raise ValueError(f"g_ema must be 0 (off) or a decay in (0, 1) such as 0.999, got {self.g_ema!r}")
        check_nonnegative(self.r1_gamma, "r1_gamma")
        if self.r1_gamma and "compile" in str(self.speed).split("+"):
            raise ValueError(f"r1_gamma={self.r1_gamma!r} needs a double backward, which torch.compile does not "
                             f"support: drop 'compile' from speed={self.speed!r}")
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
