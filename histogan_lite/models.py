"""The paper's DCGAN and conditional DCGAN (paper section 3.1; Radford et al. 2015).

Generator G: z in R^100 (plus a one-hot class vector for the cDCGAN) is projected by a linear layer to
a ``(C, s, s)`` feature map (``s = image_size / 16``), then four transposed convolutions with 5x5
kernels and stride 2 double the side four times: ``C -> C/2 -> C/4 -> C/8 -> 3`` channels. Every one is
followed by batch norm + ReLU except the last, which has no batch norm and a ``tanh`` so the output lies
in ``[-1, 1]``.

Discriminator D: four convolutions with 5x5 kernels and stride 2 halve the side four times:
``3 -> C/8 -> C/4 -> C/2 -> C`` channels, batch norm after each but the first, LeakyReLU with slope
0.2; a linear layer turns the last ``(C, s, s)`` map into one logit. In the cDCGAN the class enters D
at its first convolutional layer: the one-hot class vector, broadcast to constant maps, is concatenated
to the output of the first convolution (not to the raw image).

``C`` is the ``width``: the paper uses half of Radford et al.'s filters, ``C = 512`` (layers
512-256-128-64). A smaller ``width`` keeps every rule and only narrows the layers (the CPU preset).
Weights are initialised as Radford et al.: convolution and linear weights ~ N(0, 0.02), batch-norm
scales ~ N(1, 0.02), biases 0.

Named options that depart from the paper (each defaults to the paper's choice here; the training presets
say which ones the CPU recipe turns on and Chapter 3 gives the ablation numbers behind each):

* ``upsample``: ``"transposed"`` (the paper: transposed convolutions, ``kernel_size`` x ``kernel_size``,
  stride 2) or ``"resize-conv"`` (nearest-neighbour x2 resize then a 3x3 convolution, stride 1; Odena et
  al. 2016, "Deconvolution and checkerboard artifacts"): a 5x5 kernel with stride 2 overlaps unevenly
  (5 is not a multiple of 2), which prints a grid into the image;
* ``kernel_size``: 5 (the paper) or 4 (Radford et al.'s code, pytorch/examples) for G's transposed
  convolutions and all of D's convolutions;
* ``spectral_norm`` (D only): spectral normalisation of every weight (Miyato et al. 2018);
* ``label_in`` (D of a cDCGAN): ``"first-conv"`` (the paper), ``"input"`` (constant class maps
  concatenated to the raw image) or ``"projection"`` (Miyato & Koyama 2018: the logit gets the term
  ``<embed(y), phi(x)>``);
* ``z_prior`` (G): the latent prior the generator was trained with, ``"uniform"`` in [-1, 1] (the paper)
  or ``"normal"`` N(0, 1) (Radford et al.'s code); :func:`~histogan_lite.sampling.sample_z` draws
  from either (``G.sample_z(n)`` uses the generator's own prior).
"""

from __future__ import annotations

import pandas as pd
import torch
from torch import nn

from .sampling import sample_z  # the one latent prior (re-exported here, next to the models)
from .utils import check_int, eval_mode

__all__ = [
    "PAPER_WIDTH",
    "Z_PRIORS",
    "PAPER_OPTIONS",
    "UPSAMPLES",
    "LABEL_IN",
    "sample_z",
    "IMAGE_SIZES",
    "LATENT_DIM",
    "KERNEL_SIZE",
    "STRIDE",
    "Generator",
    "Discriminator",
    "init_weights",
    "layer_table",
    "one_hot_labels",
]

PAPER_WIDTH = 512  # half of Radford et al.'s 1024 filters in the widest layer (paper 3.1)
IMAGE_SIZES = (64, 128, 256)
LATENT_DIM = 100  # Z = R^100 (paper 3.1)
KERNEL_SIZE = 5
STRIDE = 2
PADDING = 2  # with kernel 5 and stride 2: a convolution halves the side exactly, a transposed one doubles it
N_LAYERS = 4
Z_PRIORS = ("uniform", "normal")
UPSAMPLES = ("transposed", "resize-conv")
LABEL_IN = ("first-conv", "input", "projection")
KERNEL_SIZES = (4, 5)
#: the paper's value of every option, for checkpoints written before the options existed
PAPER_OPTIONS = {
    "generator": {"upsample": "transposed", "kernel_size": KERNEL_SIZE, "z_prior": "uniform"},
    "discriminator": {"kernel_size": KERNEL_SIZE, "spectral_norm": False, "label_in": "first-conv"},
}


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def _check_sizes(image_size: int, n_classes: int, width: int | None) -> int:
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size not in IMAGE_SIZES:
        raise ValueError(f"image_size must be one of {IMAGE_SIZES} (pixels per side), got {image_size!r}")
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 0 or n_classes == 1:
        raise ValueError(
            f"n_classes must be 0 (DCGAN) or >= 2 (cDCGAN; the paper uses 2), got {n_classes!r}"
        )
    width = PAPER_WIDTH if width is None else width
    if isinstance(width, bool) or not isinstance(width, int) or width < 8 or width % 8:
        raise ValueError(f"width must be None (paper: {PAPER_WIDTH}) or a multiple of 8 >= 8, got {width!r}")
    return width


def one_hot_labels(labels: torch.Tensor, n_classes: int, n: int, device: torch.device) -> torch.Tensor:
    """Check class labels and turn them into one-hot (or soft) class vectors.

    Args:
        labels: int64 tensor ``(N,)`` with values in ``[0, n_classes)`` (0 negative, 1 positive in the
            paper), a Python int used for every sample, or a float tensor ``(N, n_classes)`` of soft
            class vectors (values in [0, 1]; e.g. ``[1 - t, t]`` to move between the classes), used as
            given.
        n_classes: number of classes (>= 2).
        n: the batch size N the labels must match.
        device: device of the returned tensor.

    Returns:
        float32 tensor ``(N, n_classes)`` of 0s and 1s (or the soft vectors).

    Raises:
        ValueError: if labels is missing, has the wrong shape or dtype, or out-of-range values.
    """
    if labels is None:
        raise ValueError(f"this is a conditional model with {n_classes} classes: pass labels, an int64 tensor (N,)")
    if isinstance(labels, int) and not isinstance(labels, bool):
        labels = torch.full((n,), labels, dtype=torch.long)
    if not isinstance(labels, torch.Tensor):
        raise ValueError(f"labels must be an int64 tensor (N,), got {type(labels).__name__}")
    if labels.dtype.is_floating_point:
        if labels.shape != (n, n_classes):
            raise ValueError(
                f"float labels are soft class vectors and must have shape ({n}, {n_classes}), got "
                f"{tuple(labels.shape)}; hard labels are an integer tensor (int64) of shape ({n},)"
            )
        if not bool(torch.isfinite(labels).all()) or (n and (float(labels.min()) < 0 or float(labels.max()) > 1)):
            raise ValueError("soft class vectors must be finite with values in [0, 1]")
        return labels.to(device=device, dtype=torch.float32)
    if labels.dtype == torch.bool:
        raise ValueError(f"labels must be an integer tensor (int64), got dtype {labels.dtype}")
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},) to match the batch, got {tuple(labels.shape)}")
    if n and (int(labels.min()) < 0 or int(labels.max()) >= n_classes):
        raise ValueError(
            f"labels must lie in [0, {n_classes}), got values in [{int(labels.min())}, {int(labels.max())}]"
        )
    return nn.functional.one_hot(labels.to(device=device, dtype=torch.long), n_classes).float()


def init_weights(module: nn.Module) -> None:
    """Radford et al.'s initialisation, applied with ``model.apply(init_weights)``.

    Convolution, transposed-convolution and linear weights ~ N(0, 0.02); batch-norm scales (gamma)
    ~ N(1, 0.02); all biases 0. Draws from the global torch RNG (seed it first).
    """
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        parametrized = getattr(getattr(module, "parametrizations", None), "weight", None)
        nn.init.normal_(parametrized.original if parametrized is not None else module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def _padding(kernel_size: int) -> tuple[int, int]:
    """(padding, output_padding) so that a stride-2 convolution halves the side and a transposed one doubles it."""
    return (2, 1) if kernel_size == 5 else (1, 0)


class Generator(nn.Module):
    """DCGAN / cDCGAN generator G: z (and a class) -> an image in [-1, 1] (paper 3.1).

    Args:
        image_size: side of the generated square image in pixels: 64, 128 or 256 (the paper: 256).
        n_classes: 0 for the DCGAN; >= 2 for the cDCGAN, whose one-hot class vector is concatenated
            to z before the projection (the paper: 2, negative / positive).
        latent_dim: dimension of z (the paper: 100).
        width: channels ``C`` of the first feature map; the layers have ``C, C/2, C/4, C/8`` channels.
            ``None`` is the paper's 512 (half of Radford et al.). Must be a multiple of 8.
        upsample: ``"transposed"`` (the paper) or ``"resize-conv"`` (nearest x2, then 3x3 convolution).
        kernel_size: 5 (the paper) or 4: the transposed convolutions' kernel (unused by resize-conv).
        z_prior: ``"uniform"`` (the paper) or ``"normal"``: the prior the generator is trained with,
            recorded so :meth:`sample_z` and checkpoints use the same one.

    Call ``G(z)`` or ``G(z, labels)``:
        z: float tensor ``(N, latent_dim)``, drawn from ``G.z_prior`` (:meth:`sample_z`).
        labels: int64 tensor ``(N,)`` in ``[0, n_classes)``, an int for every sample, or a float tensor
            ``(N, n_classes)`` of soft class vectors in [0, 1] (cDCGAN only).
        Returns a float tensor ``(N, 3, image_size, image_size)`` in ``[-1, 1]``.

    Raises:
        ValueError: for an unsupported image size, width, number of classes or option; on call, for z
            of the wrong shape, or labels missing (cDCGAN), given to a DCGAN, or out of range.

    In ``eval()`` mode batch norm uses its running statistics, so an image depends on its own z only
    (the same z gives the same image alone or in any batch); in ``train()`` mode it is normalised with
    the batch's statistics and depends on the other samples of the batch.
    """

    def __init__(
        self,
        image_size: int = 64,
        n_classes: int = 0,
        latent_dim: int = LATENT_DIM,
        width: int | None = None,
        upsample: str = "transposed",
        kernel_size: int = KERNEL_SIZE,
        z_prior: str = "uniform",
    ):
        super().__init__()
        width = _check_sizes(image_size, n_classes, width)
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive integer, got {latent_dim!r}")
        _check_choice("upsample", upsample, UPSAMPLES)
        _check_choice("kernel_size", kernel_size, KERNEL_SIZES)
        _check_choice("z_prior", z_prior, Z_PRIORS)
        self.image_size = image_size
        self.n_classes = n_classes
        self.latent_dim = latent_dim
        self.width = width
        self.upsample = upsample
        self.kernel_size = kernel_size
        self.z_prior = z_prior
        self.base_size = image_size // 2**N_LAYERS  # s = image_size / 16
        chans = [width, width // 2, width // 4, width // 8, 3]
        # project (and reshape): z ++ one-hot class -> (C, s, s), then batch norm + ReLU (Radford et al.)
        self.project = nn.Linear(latent_dim + n_classes, width * self.base_size**2, bias=False)
        self.project_bn = nn.BatchNorm2d(width)
        self.project_act = nn.ReLU()
        pad, out_pad = _padding(kernel_size)
        layers: list[nn.Module] = []
        for i in range(N_LAYERS):
            last = i == N_LAYERS - 1
            if upsample == "transposed":
                layers.append(nn.ConvTranspose2d(chans[i], chans[i + 1], kernel_size, STRIDE, pad,
                                                 output_padding=out_pad, bias=last))
            else:  # resize, then convolve: every output pixel gets the same number of kernel taps
                layers += [nn.Upsample(scale_factor=2, mode="nearest"),
                           nn.Conv2d(chans[i], chans[i + 1], 3, 1, 1, bias=last)]
            layers += [nn.Tanh()] if last else [nn.BatchNorm2d(chans[i + 1]), nn.ReLU()]
        self.deconv = nn.Sequential(*layers)
        self.apply(init_weights)

    def config(self) -> dict:
        """The constructor arguments, as stored in checkpoints."""
        return {
            "kind": "generator",
            "image_size": self.image_size,
            "n_classes": self.n_classes,
            "latent_dim": self.latent_dim,
            "width": self.width,
            "upsample": self.upsample,
            "kernel_size": self.kernel_size,
            "z_prior": self.z_prior,
        }

    def sample_z(self, n: int, seed: int | None = None) -> torch.Tensor:
        """``n`` latent vectors ``(n, latent_dim)`` from this generator's prior, on its device (see :func:`sample_z`)."""
        device = next(self.parameters()).device
        return sample_z(n, self.latent_dim, seed=seed, device=device, prior=self.z_prior)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | int | None = None) -> torch.Tensor:
        if not isinstance(z, torch.Tensor) or z.ndim != 2 or z.shape[1] != self.latent_dim:
            got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(f"z must be a float tensor (N, {self.latent_dim}), got {got}")
        if self.n_classes:
            z = torch.cat([z, one_hot_labels(labels, self.n_classes, z.shape[0], z.device).to(z.dtype)], dim=1)
        elif labels is not None:
            raise ValueError("this generator is unconditional (DCGAN, n_classes=0): call G(z) without labels")
        h = self.project(z).view(z.shape[0], self.width, self.base_size, self.base_size)
        h = self.project_act(self.project_bn(h))
        return self.deconv(h)


class Discriminator(nn.Module):
    """DCGAN / cDCGAN discriminator D: an image (and a class) -> one logit (paper 3.1).

    Args:
        image_size: side of the input square image in pixels: 64, 128 or 256.
        n_classes: 0 for the DCGAN; >= 2 for the cDCGAN (see ``label_in``).
        width: channels ``C`` of the last feature map; the layers have ``C/8, C/4, C/2, C`` channels.
            ``None`` is the paper's 512.
        kernel_size: 5 (the paper) or 4.
        spectral_norm: spectral normalisation of every convolution, of the linear layer and of the
            projection's class embedding (Miyato et al. 2018).
        label_in: where the class enters a cDCGAN's D: ``"first-conv"`` (the paper: the one-hot vector,
            broadcast to ``n_classes`` constant maps, is concatenated to the output of the first
            convolution), ``"input"`` (the maps are concatenated to the raw image) or ``"projection"``
            (the logit gets ``<embed(y), sum-pooled features>``, Miyato & Koyama 2018).

    Call ``D(x)`` or ``D(x, labels)``:
        x: float tensor ``(N, 3, image_size, image_size)`` in ``[-1, 1]``.
        labels: int64 tensor ``(N,)`` or soft vectors ``(N, n_classes)`` (cDCGAN only).
        Returns float logits ``(N,)``: ``sigmoid(D(x))`` is the probability that x is real.

    Raises:
        ValueError: for unsupported sizes or options; on call, for x of the wrong shape or bad labels.
    """

    def __init__(
        self,
        image_size: int = 64,
        n_classes: int = 0,
        width: int | None = None,
        kernel_size: int = KERNEL_SIZE,
        spectral_norm: bool = False,
        label_in: str = "first-conv",
    ):
        super().__init__()
        width = _check_sizes(image_size, n_classes, width)
        _check_choice("kernel_size", kernel_size, KERNEL_SIZES)
        _check_choice("label_in", label_in, LABEL_IN)
        if not isinstance(spectral_norm, bool):
            raise ValueError(f"spectral_norm must be True or False, got {spectral_norm!r}")
        self.image_size = image_size
        self.n_classes = n_classes
        self.width = width
        self.kernel_size = kernel_size
        self.spectral_norm = spectral_norm
        self.label_in = label_in
        self.base_size = image_size // 2**N_LAYERS
        pad, _ = _padding(kernel_size)
        sn = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda m: m)
        chans = [3, width // 8, width // 4, width // 2, width]
        maps_at = {"first-conv": 1, "input": 0}.get(label_in) if n_classes else None
        c0 = 3 + (n_classes if maps_at == 0 else 0)
        self.conv1 = sn(nn.Conv2d(c0, chans[1], kernel_size, STRIDE, pad, bias=True))  # no batch norm
        self.act1 = nn.LeakyReLU(0.2)
        layers: list[nn.Module] = []
        for i in range(1, N_LAYERS):
            c_in = chans[i] + (n_classes if i == 1 and maps_at == 1 else 0)  # class maps join after conv 1
            layers += [
                sn(nn.Conv2d(c_in, chans[i + 1], kernel_size, STRIDE, pad, bias=False)),
                nn.BatchNorm2d(chans[i + 1]),
                nn.LeakyReLU(0.2),
            ]
        self.conv = nn.Sequential(*layers)
        self.flatten = nn.Flatten()
        self.logit = sn(nn.Linear(width * self.base_size**2, 1))
        # the class embedding is normalised too (Miyato & Koyama 2018): left free, <embed(y), features>
        # grew without bound and let D win the cDCGAN's game within 3,000 steps (D(G(z)) < 0.06)
        self.embed = sn(nn.Linear(n_classes, width, bias=False)) if n_classes and label_in == "projection" else None
        self.apply(init_weights)

    def config(self) -> dict:
        """The constructor arguments, as stored in checkpoints."""
        return {"kind": "discriminator", "image_size": self.image_size, "n_classes": self.n_classes,
                "width": self.width, "kernel_size": self.kernel_size, "spectral_norm": self.spectral_norm,
                "label_in": self.label_in}

    def forward(self, x: torch.Tensor, labels: torch.Tensor | int | None = None) -> torch.Tensor:
        expected = (3, self.image_size, self.image_size)
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or tuple(x.shape[1:]) != expected:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must be a float tensor (N, {', '.join(map(str, expected))}) in [-1, 1], got {got}")
        onehot = None
        if self.n_classes:
            onehot = one_hot_labels(labels, self.n_classes, x.shape[0], x.device).to(x.dtype)
        elif labels is not None:
            raise ValueError("this discriminator is unconditional (DCGAN, n_classes=0): call D(x) without labels")

        def with_maps(h):
            maps = onehot[:, :, None, None].expand(-1, -1, h.shape[2], h.shape[3]).to(h.dtype)
            return torch.cat([h, maps], dim=1)

        if onehot is not None and self.label_in == "input":
            x = with_maps(x)
        h = self.act1(self.conv1(x))
        if onehot is not None and self.label_in == "first-conv":
            h = with_maps(h)  # the class enters at the first convolutional layer (paper 3.1)
        h = self.conv(h)
        out = self.logit(self.flatten(h)).squeeze(1)
        if self.embed is not None:  # projection: <embed(y), sum over positions of the last features>
            out = out + (self.embed(onehot.to(h.dtype)) * h.sum(dim=(2, 3))).sum(dim=1)
        return out


def layer_table(model: Generator | Discriminator, batch_size: int = 2) -> pd.DataFrame:
    """Run one dummy batch through ``model`` and tabulate each layer's output shape.

    Args:
        model: a :class:`Generator` or :class:`Discriminator`. Its train/eval mode is restored afterwards.
        batch_size: N of the dummy batch (shapes are reported without it).

    Returns:
        DataFrame with one row per leaf layer in forward order and columns ``layer`` (attribute path),
        ``type`` (e.g. ``ConvTranspose2d``), ``kernel`` and ``stride`` (``"5x5"``, ``2`` for
        convolutions, empty otherwise), ``output_shape`` (tuple ``(C, H, W)`` or ``(F,)`` without N) and
        ``params`` (trainable parameters of that layer).

    Raises:
        TypeError: if ``model`` is not a Generator or Discriminator.
    """
    if not isinstance(model, (Generator, Discriminator)):
        raise TypeError(f"model must be a histogan_lite Generator or Discriminator, got {type(model).__name__}")
    check_int(batch_size, "batch_size")
    rows: list[dict] = []
    hooks = []
    for name, module in model.named_modules():
        if next(module.children(), None) is not None or module is model:
            continue

        def hook(mod, _inp, out, name=name):
            conv = isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d))
            rows.append(
                {
                    "layer": name,
                    "type": type(mod).__name__,
                    "kernel": f"{mod.kernel_size[0]}x{mod.kernel_size[1]}" if conv else "",
                    "stride": mod.stride[0] if conv else "",
                    "output_shape": tuple(out.shape[1:]),
                    "params": sum(p.numel() for p in mod.parameters() if p.requires_grad),
                }
            )

        hooks.append(module.register_forward_hook(hook))
    device = next(model.parameters()).device
    try:
        with eval_mode(model), torch.no_grad():
            labels = torch.zeros(batch_size, dtype=torch.long, device=device) if model.n_classes else None
            if isinstance(model, Generator):
                model(torch.zeros(batch_size, model.latent_dim, device=device), labels)
            else:
                model(torch.zeros(batch_size, 3, model.image_size, model.image_size, device=device), labels)
    finally:
        for h in hooks:
            h.remove()
    return pd.DataFrame(rows, columns=["layer", "type", "kernel", "stride", "output_shape", "params"])
