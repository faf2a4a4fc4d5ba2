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
"""

from __future__ import annotations

import pandas as pd
import torch
from torch import nn

__all__ = [
    "PAPER_WIDTH",
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
    """Check class labels and turn them into one-hot vectors.

    Args:
        labels: int64 tensor ``(N,)`` with values in ``[0, n_classes)`` (0 negative, 1 positive in the
            paper), or a Python int used for every sample.
        n_classes: number of classes (>= 2).
        n: the batch size N the labels must match.
        device: device of the returned tensor.

    Returns:
        float32 tensor ``(N, n_classes)`` of 0s and 1s.

    Raises:
        ValueError: if labels is missing, has the wrong shape, a non-integer dtype or out-of-range values.
    """
    if labels is None:
        raise ValueError(f"this is a conditional model with {n_classes} classes: pass labels, an int64 tensor (N,)")
    if isinstance(labels, int) and not isinstance(labels, bool):
        labels = torch.full((n,), labels, dtype=torch.long)
    if not isinstance(labels, torch.Tensor):
        raise ValueError(f"labels must be an int64 tensor (N,), got {type(labels).__name__}")
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
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
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    """DCGAN / cDCGAN generator G: z (and a class) -> an image in [-1, 1] (paper 3.1).

    Args:
        image_size: side of the generated square image in pixels: 64, 128 or 256 (the paper: 256).
        n_classes: 0 for the DCGAN; >= 2 for the cDCGAN, whose one-hot class vector is concatenated
            to z before the projection (the paper: 2, negative / positive).
        latent_dim: dimension of z (the paper: 100).
        width: channels ``C`` of the first feature map; the layers have ``C, C/2, C/4, C/8`` channels.
            ``None`` is the paper's 512 (half of Radford et al.). Must be a multiple of 8.

    Call ``G(z)`` or ``G(z, labels)``:
        z: float tensor ``(N, latent_dim)``, drawn uniform in ``[-1, 1]`` (``latent.sample_z``).
        labels: int64 tensor ``(N,)`` in ``[0, n_classes)`` (cDCGAN only; an int is broadcast).
        Returns a float tensor ``(N, 3, image_size, image_size)`` in ``[-1, 1]``.

    Raises:
        ValueError: for an unsupported image size, width or number of classes; on call, for z of the
            wrong shape, or labels missing (cDCGAN), given to a DCGAN, or out of range.

    In ``eval()`` mode batch norm uses its running statistics, so an image depends on its own z only
    (the same z gives the same image alone or in any batch); in ``train()`` mode it is normalised with
    the batch's statistics and depends on the other samples of the batch.
    """

    def __init__(self, image_size: int = 64, n_classes: int = 0, latent_dim: int = LATENT_DIM, width: int | None = None):
        super().__init__()
        width = _check_sizes(image_size, n_classes, width)
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive integer, got {latent_dim!r}")
        self.image_size = image_size
        self.n_classes = n_classes
        self.latent_dim = latent_dim
        self.width = width
        self.base_size = image_size // 2**N_LAYERS  # s = image_size / 16
        chans = [width, width // 2, width // 4, width // 8, 3]
        # project (and reshape): z ++ one-hot class -> (C, s, s), then batch norm + ReLU (Radford et al.)
        self.project = nn.Linear(latent_dim + n_classes, width * self.base_size**2, bias=False)
        self.project_bn = nn.BatchNorm2d(width)
        self.project_act = nn.ReLU()
        layers: list[nn.Module] = []
        for i in range(N_LAYERS):
            last = i == N_LAYERS - 1
            layers.append(
                nn.ConvTranspose2d(
                    chans[i], chans[i + 1], KERNEL_SIZE, STRIDE, PADDING, output_padding=1, bias=last
                )
            )
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
        }

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
        n_classes: 0 for the DCGAN; >= 2 for the cDCGAN, whose one-hot class vector, broadcast to
            ``n_classes`` constant maps, is concatenated to the output of the first convolution.
        width: channels ``C`` of the last feature map; the layers have ``C/8, C/4, C/2, C`` channels.
            ``None`` is the paper's 512.

    Call ``D(x)`` or ``D(x, labels)``:
        x: float tensor ``(N, 3, image_size, image_size)`` in ``[-1, 1]``.
        labels: int64 tensor ``(N,)`` (cDCGAN only).
        Returns float logits ``(N,)``: ``sigmoid(D(x))`` is the probability that x is real.

    Raises:
        ValueError: for unsupported sizes; on call, for x of the wrong shape or bad labels.
    """

    def __init__(self, image_size: int = 64, n_classes: int = 0, width: int | None = None):
        super().__init__()
        width = _check_sizes(image_size, n_classes, width)
        self.image_size = image_size
        self.n_classes = n_classes
        self.width = width
        self.base_size = image_size // 2**N_LAYERS
        chans = [3, width // 8, width // 4, width // 2, width]
        self.conv1 = nn.Conv2d(3, chans[1], KERNEL_SIZE, STRIDE, PADDING, bias=True)  # no batch norm
        self.act1 = nn.LeakyReLU(0.2)
        layers: list[nn.Module] = []
        for i in range(1, N_LAYERS):
            c_in = chans[i] + (n_classes if i == 1 else 0)  # class maps join after the first convolution
            layers += [
                nn.Conv2d(c_in, chans[i + 1], KERNEL_SIZE, STRIDE, PADDING, bias=False),
                nn.BatchNorm2d(chans[i + 1]),
                nn.LeakyReLU(0.2),
            ]
        self.conv = nn.Sequential(*layers)
        self.flatten = nn.Flatten()
        self.logit = nn.Linear(width * self.base_size**2, 1)
        self.apply(init_weights)

    def config(self) -> dict:
        """The constructor arguments, as stored in checkpoints."""
        return {"kind": "discriminator", "image_size": self.image_size, "n_classes": self.n_classes, "width": self.width}

    def forward(self, x: torch.Tensor, labels: torch.Tensor | int | None = None) -> torch.Tensor:
        expected = (3, self.image_size, self.image_size)
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or tuple(x.shape[1:]) != expected:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must be a float tensor (N, {', '.join(map(str, expected))}) in [-1, 1], got {got}")
        h = self.act1(self.conv1(x))
        if self.n_classes:
            onehot = one_hot_labels(labels, self.n_classes, x.shape[0], x.device).to(h.dtype)
            maps = onehot[:, :, None, None].expand(-1, -1, h.shape[2], h.shape[3])
            h = torch.cat([h, maps], dim=1)  # the class enters at the first convolutional layer (paper 3.1)
        elif labels is not None:
            raise ValueError("this discriminator is unconditional (DCGAN, n_classes=0): call D(x) without labels")
        return self.logit(self.flatten(self.conv(h))).squeeze(1)


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
    was_training = model.training
    device = next(model.parameters()).device
    model.eval()
    try:
        with torch.no_grad():
            labels = torch.zeros(batch_size, dtype=torch.long, device=device) if model.n_classes else None
            if isinstance(model, Generator):
                model(torch.zeros(batch_size, model.latent_dim, device=device), labels)
            else:
                model(torch.zeros(batch_size, 3, model.image_size, model.image_size, device=device), labels)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return pd.DataFrame(rows, columns=["layer", "type", "kernel", "stride", "output_shape", "params"])
