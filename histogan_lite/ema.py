"""An exponential moving average (EMA) of the generator's weights (beyond the paper).

GAN training does not converge to a point: G circles around a good solution while D keeps moving, so
consecutive checkpoints of one run differ a lot in quality (on the demo data, the DCGAN's classifier
KID jumped between 52 and 141 over checkpoints 500 steps apart). Averaging G's weights over the last
few thousand steps cancels much of that circling; the averaged generator is never trained itself, it
only samples. This is Yazici et al. 2019, "The unusual effectiveness of averaging in GAN training"
(ICLR), used by Karras et al. 2018 (progressive GAN) and every StyleGAN since.

The average is :class:`torch.optim.swa_utils.AveragedModel` (a well-kept library, not our own loop),
with the batch-norm running statistics averaged too (``use_buffers=True``), so the averaged G in eval
mode normalises with statistics that belong to its own weights. Its decay warms up as
``min(decay, (1 + n) / (10 + n))`` after ``n`` updates (the warm-up of TensorFlow's
``ExponentialMovingAverage``), so an early checkpoint is not dominated by the random initial weights.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

__all__ = ["GeneratorEMA", "ema_decay_at"]


def ema_decay_at(decay: float, n_averaged: int) -> float:
    """The decay used for the ``n_averaged + 1``-th update: ``min(decay, (1 + n) / (10 + n))``."""
    return min(float(decay), (1.0 + n_averaged) / (10.0 + n_averaged))


class GeneratorEMA(AveragedModel):
    """The moving average of a generator: ``ema.module`` is a :class:`~histogan_lite.models.Generator`.

    Args:
        G: the generator being trained (unwrapped, not DDP or compiled); it is deep-copied.
        decay: in ``(0, 1)``; 0.999 averages over about the last 1,000 updates.

    After each G update call ``ema.update_parameters(G)``. Parameters and buffers (batch-norm running
    mean / var) are averaged; ``num_batches_tracked`` is copied.

    Raises:
        ValueError: when ``decay`` is not in ``(0, 1)``.
    """

    def __init__(self, G: nn.Module, decay: float):
        if not isinstance(decay, (int, float)) or not 0.0 < float(decay) < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), e.g. 0.999, got {decay!r}")
        self.decay = float(decay)

        def multi_avg_fn(averaged: list, current: list, n: torch.Tensor) -> None:
            # called once per update for each (device, dtype) group of tensors
            if not averaged[0].is_floating_point():  # num_batches_tracked: a counter, copied
                torch._foreach_copy_(averaged, current)
                return
            torch._foreach_lerp_(averaged, current, 1.0 - ema_decay_at(self.decay, int(n)))

        super().__init__(G, multi_avg_fn=multi_avg_fn, use_buffers=True)
        self.module.eval()  # on purpose: the average only samples, it is never trained

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Its generator's state dict plus ``n_averaged``, for a checkpoint (CPU, contiguous)."""
        out = {k: v.detach().cpu().contiguous() for k, v in self.module.state_dict().items()}
        out["n_averaged"] = self.n_averaged.detach().cpu().reshape(1)
        return out

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore from :meth:`state_tensors` (strict: every key of the generator must be there)."""
        tensors = dict(tensors)
        n = tensors.pop("n_averaged")
        self.module.load_state_dict(tensors)
        self.n_averaged.copy_(n.reshape(()).to(self.n_averaged.device))
