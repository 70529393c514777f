"""An ablation grid: named axes of values, expanded into one training config per cell."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

from fpa.errors import ConfigError
from fpa.runs.config import TrainConfig, check_keys
from fpa.training.presets import RunRequest
from fpa.training.resolve import ResolvedRun, decide_run

# Axis names that get a short form in run-directory names.
SHORT_NAMES = {
    "paint_steps": "T",
    "updates_per_step": "U",
    "discriminator": "D",
    "rule_impl": "impl",
}


@dataclass(frozen=True)
class Cell:
    """One configuration of the grid: its axis values, run-folder name, and the run as
    decided (its full config, with why each inferred value was chosen); it trains as decided."""

    values: dict[str, Any]
    name: str
    run: ResolvedRun

    @property
    def config(self) -> TrainConfig:
        return self.run.config


def cell_name(values: dict[str, Any]) -> str:
    """``rule-delta_painter-lstm_T-16``: readable, unique per cell, safe as a folder name."""
    if not values:
        return "base"
    parts = []
    for key, value in values.items():
        text = re.sub(r"[^A-Za-z0-9.+-]+", "-", str(value)).strip("-") or "none"
        parts.append(f"{SHORT_NAMES.get(key, key)}-{text}")
    return "_".join(parts)


def expand(
    base: TrainConfig | RunRequest, axes: dict[str, list[Any]], *, one_at_a_time: bool = False
) -> list[Cell]:
    """Every combination of the axes' values applied to ``base``, in the axes' order; or,
    ``one_at_a_time``, the base config followed by each value of each axis changed alone
    (values equal to the base's are the base cell itself).

    Each cell is decided here (:func:`~fpa.training.resolve.decide_run`, as ``fpa train``
    decides a run from the base and the cell's values), and so validated, before anything
    trains.
    """
    request = base if isinstance(base, RunRequest) else RunRequest(base=base)
    check_keys(axes)
    for key, values in axes.items():
        if not values:
            raise ConfigError(f"the ablation axis {key!r} has no values")
        if len(set(map(repr, values))) != len(values):
            raise ConfigError(f"the ablation axis {key!r} repeats a value: {values}")
    if one_at_a_time:
        decided = decide_run(request).config
        current = decided.settings()
        changes: list[dict[str, Any]] = [{}] + [
            {key: value}
            for key, values in axes.items()
            for value in values
            if decided.with_overrides({key: value}).settings()[key] != current[key]
        ]
    else:
        changes = [
            dict(zip(axes, combination, strict=True))
            for combination in itertools.product(*axes.values())
        ]
    cells = [
        Cell(
            values=values,
            name=cell_name(values),
            run=decide_run(request.with_overrides(values)),
        )
        for values in changes
    ]
    names = [cell.name for cell in cells]
    if len(set(names)) != len(names):
        raise ConfigError("two grid cells would share a folder name; use distinct values")
    return cells
