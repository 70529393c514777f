"""The learning rate over a run: constant, then, from a chosen fraction of the run on, a
linear decay to zero at ``train_steps`` (as pix2pix and CycleGAN decay theirs).

The rate is a function of the step alone, so a resumed run continues the same schedule
without any saved scheduler state.
"""

from __future__ import annotations

import torch


def lr_factor(*, step: int, train_steps: int, decay_from: float) -> float:
    """The multiplier of the base learning rates for the update made at ``step`` (0-based):
    1 before ``decay_from × train_steps``, then falling linearly towards 0 at ``train_steps``
    (the last update still moves: its factor is ``1 / decay_steps``)."""
    start = decay_from * train_steps
    if step < start or train_steps <= start:
        return 1.0
    return (train_steps - step) / (train_steps - start)


def set_learning_rate(optimizer: torch.optim.Optimizer, rate: float) -> None:
    """Give every parameter group of ``optimizer`` the learning rate ``rate``."""
    for group in optimizer.param_groups:
        group["lr"] = rate
