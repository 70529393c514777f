"""The EMA generator: torch's AveragedModel with a decay that warms up.

With a fixed decay of 0.995 the average still holds a third of the untrained weights after 200
steps, so early samples of a short CPU run show noise. The decay ``min(beta, (1+n)/(10+n))``
follows the weights closely at first and settles at ``beta`` (after about 2,000 updates for
0.995).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel


def warmup_decay(beta: float, updates: float) -> float:
    """The decay after ``updates`` averaging steps."""
    return min(beta, (1 + updates) / (10 + updates))


def ema_model(module: nn.Module, *, beta: float) -> AveragedModel:
    """An averaged copy of ``module`` (parameters and buffers) updated with warm-up decay."""

    @torch.no_grad()
    def update(
        averaged: Sequence[Tensor], current: Sequence[Tensor], updates: Tensor | int
    ) -> None:
        weight = 1 - warmup_decay(beta, float(updates))
        pairs = list(zip(averaged, current, strict=True))
        floating = [(a, c) for a, c in pairs if a.is_floating_point()]
        if floating:
            torch._foreach_lerp_([a for a, _ in floating], [c for _, c in floating], weight)
        for average, value in pairs:
            if not average.is_floating_point():  # counters such as num_batches_tracked
                average.copy_(value)

    return AveragedModel(module, multi_avg_fn=update, use_buffers=True)
