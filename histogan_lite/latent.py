"""Latent-space operations (paper section 3.2)."""

from __future__ import annotations

import torch

__all__ = ["sample_z"]


def sample_z(
    n: int,
    latent_dim: int = 100,
    seed: int | None = None,
    device: str | torch.device | None = None,
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

    Returns:
        ``torch.float32`` tensor of shape ``(n, latent_dim)`` with values in ``[-1, 1)``.

    Raises:
        ValueError: if ``n`` or ``latent_dim`` is not a positive integer, or ``seed`` is negative.
    """
    for name, value in (("n", n), ("latent_dim", latent_dim)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63):
        raise ValueError(f"seed must be None or a non-negative integer, got {seed!r}")
    gen = None
    if seed is not None:
        gen = torch.Generator()
        gen.manual_seed(seed)
    z = torch.rand(n, latent_dim, generator=gen, dtype=torch.float32) * 2.0 - 1.0  # U(0,1) -> U(-1,1)
    return z if device is None else z.to(device)
