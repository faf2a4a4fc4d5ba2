"""Drawing z and running the generator: the prior, one inference wrapper, and the checks they share.

* :func:`sample_z` draws z from the paper's prior, uniform on ``[-1, 1]^latent_dim`` (section 3.1);
  nothing else in the package writes that draw by hand.
* :func:`generate` runs G (DCGAN) or G(z, labels) (cDCGAN) for inference: eval mode, no gradients, in
  batches, and restores the train/eval mode it found.

The latent operations (:mod:`histogan_lite.latent`) and GAN inversion (:mod:`histogan_lite.inversion`)
build on these. Images are float tensors ``(N, 3, H, W)`` in ``[-1, 1]``; latent vectors are float
``(N, latent_dim)``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .utils import check_int, check_labels, eval_mode

__all__ = ["sample_z", "generate"]


def sample_z(
    n: int,
    latent_dim: int = 100,
    seed: int | None = None,
    device: str | torch.device | None = None,
    *,
    generator: torch.Generator | None = None,
    prior: str = "uniform",
) -> torch.Tensor:
    """Draw latent vectors z from the paper's prior, uniform in [-1, 1] (section 3.1), or N(0, 1).

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
        prior: ``"uniform"`` (the paper: every coordinate uniform in [-1, 1)) or ``"normal"`` (N(0, 1),
            Radford et al.'s code); a trained generator records its prior as ``G.z_prior``.

    Returns:
        ``torch.float32`` tensor of shape ``(n, latent_dim)``, values in ``[-1, 1)`` for the uniform prior.

    Raises:
        ValueError: if ``n`` or ``latent_dim`` is not a positive integer, ``seed`` is negative, or both
            ``seed`` and ``generator`` are given, or ``prior`` is unknown.
    """
    if prior not in ("uniform", "normal"):
        raise ValueError(f"prior must be 'uniform' (the paper) or 'normal', got {prior!r}")
    check_int(n, "n")
    check_int(latent_dim, "latent_dim")  # the shared check TrainConfig uses
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63):
        raise ValueError(f"seed must be None or a non-negative integer, got {seed!r}")
    if seed is not None and generator is not None:
        raise ValueError("pass seed or generator, not both")
    gen = generator
    if seed is not None:
        gen = torch.Generator()
        gen.manual_seed(seed)
    where = gen.device if gen is not None else None
    if prior == "normal":
        z = torch.randn(n, latent_dim, generator=gen, dtype=torch.float32, device=where)
    else:
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


def _check_labels(generator, labels, n: int, name: str = "labels", allow_soft: bool = False) -> torch.Tensor | None:
    """Labels as an int64 CPU tensor (N,), or None for a DCGAN; clear errors otherwise.

    With ``allow_soft``, a float tensor ``(N, n_classes)`` of soft class vectors in [0, 1] (class mixing) is
    returned as a float32 CPU tensor; :meth:`histogan_lite.models.Generator.forward` takes both kinds.
    """
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
    if allow_soft and isinstance(labels, torch.Tensor) and labels.is_floating_point():
        if labels.shape != (n, n_classes):
            raise ValueError(f"soft class vectors {name} must have shape ({n}, {n_classes}), got {tuple(labels.shape)}")
        if not bool(torch.isfinite(labels).all()) or (n and (float(labels.min()) < 0 or float(labels.max()) > 1)):
            raise ValueError(f"soft class vectors {name} must be finite with values in [0, 1]")
        return labels.detach().float().cpu()
    return torch.from_numpy(check_labels(labels, n, name, n_classes))


def generate(generator: nn.Module, z: torch.Tensor, labels=None, batch_size: int = 256) -> torch.Tensor:
    """Images G(z) (or G(z, labels)) in eval mode, without gradients: the package's one inference call of G.

    Args:
        generator: a :class:`histogan_lite.models.Generator`; its train/eval mode is restored after
            (:func:`histogan_lite.utils.eval_mode`).
        z: float tensor ``(N, latent_dim)`` (a single vector ``(latent_dim,)`` counts as N = 1), any device.
        labels: cDCGAN only: int64 tensor ``(N,)`` in ``[0, n_classes)``, one int for all, or a float tensor
            ``(N, n_classes)`` of soft class vectors in [0, 1] (class mixing; one-hot rows give the hard labels'
            images exactly).
        batch_size: images generated per forward pass.

    Returns:
        float32 CPU tensor ``(N, 3, S, S)`` in ``[-1, 1]``, S = ``generator.image_size``.

    Raises:
        TypeError / ValueError: for a wrong generator, z of the wrong shape, missing or out-of-range labels,
            soft class vectors of the wrong shape or outside [0, 1], or labels given to a DCGAN.
    """
    _check_generator(generator)
    check_int(batch_size, "batch_size")
    z = _check_z(z, generator.latent_dim, allow_vector=True)
    labels = _check_labels(generator, labels, z.shape[0], allow_soft=True)
    dev = _device_of(generator)
    out = []
    with eval_mode(generator):
        with torch.no_grad():
            for i in range(0, z.shape[0], batch_size):
                zb = z[i : i + batch_size].to(dev)
                if labels is None:
                    out.append(generator(zb).float().cpu())
                else:
                    out.append(generator(zb, labels[i : i + batch_size].to(dev)).float().cpu())
    return torch.cat(out)
