"""The learning rates of a run: constant, then, from a chosen fraction of the run on, a
linear decay to zero at ``train_steps`` (as pix2pix and CycleGAN decay theirs); and the
generator's parameter groups, the refiner's at its own rate (``lr_refiner``).

The rate is a function of the step alone, so a resumed run continues the same schedule
without any saved scheduler state.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from fpa.runs.config import TrainConfig

# A parameter group's rate relative to the base rate the schedule sets.
RATE_SCALE = "rate_scale"


def lr_factor(*, step: int, train_steps: int, decay_from: float) -> float:
    """The multiplier of the base learning rates for the update made at ``step`` (0-based):
    1 before ``decay_from × train_steps``, then falling linearly towards 0 at ``train_steps``
    (the last update still moves: its factor is ``1 / decay_steps``)."""
    start = decay_from * train_steps
    if step < start or train_steps <= start:
        return 1.0
    return (train_steps - step) / (train_steps - start)


def set_learning_rate(optimizer: torch.optim.Optimizer, rate: float) -> None:
    """Give every parameter group of ``optimizer`` the learning rate ``rate``, times the
    group's own scale where it has one (the refiner's under ``lr_refiner``)."""
    for group in optimizer.param_groups:
        group["lr"] = rate * group.get(RATE_SCALE, 1.0)


def generator_groups(generator: nn.Module, config: TrainConfig) -> list[dict[str, Any]]:
    """The generator's trainable parameters as Adam's groups: one group, or, when
    ``lr_refiner`` is set, the refiner's in a second group scaled to that rate (runs without
    it keep the one group their checkpoints hold)."""
    named = [(n, p) for n, p in generator.named_parameters() if p.requires_grad]
    if not config.lr_refiner:
        return [{"params": [p for _, p in named]}] if named else []
    refiner = [p for n, p in named if n.startswith("refiner.")]
    rest = [p for n, p in named if not n.startswith("refiner.")]
    scale = config.refiner_lr / config.lr
    groups: list[dict[str, Any]] = [
        {"params": rest},
        {"params": refiner, RATE_SCALE: scale, "lr": config.refiner_lr},
    ]
    return [group for group in groups if group["params"]]
