"""The GAN losses of paper section 3.1.1 on D's logits: eq. (1) for D, eq. (4) (or the minimax eqs. 2-3) for G,
and the instance-noise schedule.

Split out of :mod:`histogan_lite.training` (issue 14: one idea per module); every name here is still
importable from there (``training.discriminator_loss``, ``training.generator_loss``,
``training.noise_std_at``), and :mod:`histogan_lite.toy` uses the same two losses.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .config import TrainConfig
from .utils import check_real_label

__all__ = ["discriminator_loss", "generator_loss", "noise_std_at", "r1_penalty"]


def noise_std_at(config: TrainConfig, step: int) -> float:
    """Instance-noise standard deviation at ``step``: linear from ``instance_noise`` to 0."""
    horizon = config.noise_anneal_steps or max(config.steps, 1)
    return config.instance_noise * max(0.0, 1.0 - step / horizon)


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
    return _bce(logits_real, check_real_label(real_label)) + _bce(logits_fake, 0.0)  # eq. (1)


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


def r1_penalty(logits_real: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """The R1 gradient penalty (Mescheder et al. 2018, eq. 9; not in the paper): ``mean ||grad_x D(x)||^2``.

    Penalising the gradient of D's logit on *real* images keeps D from growing steep walls around the real
    data, the instability behind a discriminator that wins and a generator that drops modes. The training
    step adds ``gamma / 2 * r1_penalty(...)`` to eq. (1) (``TrainConfig.r1_gamma``).

    Args:
        logits_real: D's logits ``(N,)`` on ``real``, computed with the autograd graph kept.
        real: the float ``(N, 3, H, W)`` batch D saw, in [-1, 1], with ``requires_grad=True``.

    Returns:
        Scalar float32 tensor (per image: sum over pixels and channels of the squared gradient, then the
        mean over the batch), differentiable with respect to D's weights (``create_graph=True``).

    Raises:
        ValueError: when ``real`` does not require a gradient (the penalty would silently be 0).
    """
    if not real.requires_grad:
        raise ValueError("r1_penalty: `real` must require grad (call real.requires_grad_(True) before D(real))")
    (grad,) = torch.autograd.grad(logits_real.float().sum(), real, create_graph=True)
    return grad.float().pow(2).flatten(1).sum(1).mean()
