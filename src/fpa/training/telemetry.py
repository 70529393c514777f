"""What a run shows its loggers (TensorBoard, W&B, ...) besides ``metrics.jsonl``, and the rule
that a logger never stops or harms the run: one that fails is switched off with one warning.

Only rank 0 logs. The records are the JSONL's own (the same rounded numbers), grouped into
tags: ``train/…`` (losses, images/s), ``eval/…`` (FID, KID), ``optim/…`` (learning rates),
``samples/ema`` (the EMA grid of the fixed latents) and, for a painter, ``painter/…``: the
learning rates it writes with and the entropy of its keys (docs/design.md §8).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

import numpy as np
import torch
from torch import Tensor

from fpa.errors import error_summary
from fpa.generator import FastWeightPainter
from fpa.plugins import build_logger, registry
from fpa.protocols import RunLogger
from fpa.runs.config import TrainConfig
from fpa.runs.run_dir import RunDir

# Record keys that say what a record is rather than measure anything.
LABELS = ("step", "event", "eval_n")


def say_on_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def check_loggers(config: TrainConfig) -> None:
    """Refuse a logger name nothing registers (a typo), naming the closest: before the run
    folder is touched, like every other bad option."""
    table = registry()
    for name in config.loggers:
        table.get("loggers", name)


def tags(record: Mapping[str, Any]) -> dict[str, float]:
    """A metrics record as logger tags: an evaluation's scores under ``eval/``, a step's
    numbers under ``train/``; other events (a NaN restart) stay in the JSONL only."""
    group = {None: "train", "eval": "eval"}.get(record.get("event"))
    if group is None:
        return {}
    return {
        f"{group}/{key}": float(value)
        for key, value in record.items()
        if key not in LABELS and isinstance(value, int | float) and not isinstance(value, bool)
    }


@torch.no_grad()
def painter_statistics(
    generator: FastWeightPainter, z: Tensor, labels: Tensor | None = None
) -> dict[str, np.ndarray]:
    """Per (sample, channel, step): the learning rates of the painting (every entry, per-row
    ones included) and the entropy of the key in nats, of the key's absolute values made a
    distribution over the W columns: 0 writes one column, ln W spreads over all of them; and
    every entry of each extra command the rule declares (a gate), as ``painter/NAME``."""
    commands = generator.commands(z, labels)
    weights = commands.keys.float().abs()
    share = weights / weights.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    entropy = -(share * share.clamp_min(1e-12).log()).sum(dim=-1)
    return {
        "painter/rates": commands.rates.float().flatten().cpu().numpy(),
        "painter/key_entropy": entropy.flatten().cpu().numpy(),
        **{
            f"painter/{name}": command.float().flatten().cpu().numpy()
            for name, command in commands.extra.items()
        },
    }


class Telemetry:
    """The run's loggers, each isolated: an exception from one is reported in one line and
    that logger is closed and dropped; the others and the run go on."""

    def __init__(
        self, loggers: Mapping[str, RunLogger], *, say: Callable[[str], None] = say_on_stderr
    ) -> None:
        self.loggers = dict(loggers)
        self.say = say

    @classmethod
    def open(
        cls,
        config: TrainConfig,
        run_dir: RunDir,
        *,
        step: int,
        main: bool = True,
        say: Callable[[str], None] = say_on_stderr,
    ) -> Telemetry:
        """Build the loggers of ``config`` for a run starting (or resuming) at ``step``; one
        that cannot start (its package missing, its folder unwritable) is named in one line
        and the run trains without it. ``main=False`` (ranks other than 0) logs nothing."""
        opened: dict[str, RunLogger] = {}
        for name in config.loggers if main else ():
            try:
                opened[name] = build_logger(
                    name, folder=run_dir.logger_folder(name), config=config.to_dict(), step=step
                )
            except Exception as error:
                say(f"warning: logger {name!r} is off for this run: {error_summary(error)}")
        return cls(opened, say=say)

    def __enter__(self) -> Telemetry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def active(self) -> bool:
        return bool(self.loggers)

    @contextmanager
    def guarded(self, name: str) -> Iterator[None]:
        try:
            yield
        except Exception as error:
            self.say(
                f"warning: logger {name!r} failed and is off from here on; the run goes on "
                f"({error_summary(error)})"
            )
            logger = self.loggers.pop(name)
            with suppress(Exception):  # already reported; its own files are all it can harm
                logger.close()

    def each(self, call: Callable[[RunLogger], None]) -> None:
        for name, logger in list(self.loggers.items()):
            with self.guarded(name):
                call(logger)

    def record(self, record: Mapping[str, Any], *, learning_rates: Mapping[str, float]) -> None:
        """Log one ``metrics.jsonl`` record (its own numbers) and, with a step's record, the
        optimisers' learning rates."""
        scalars = tags(record)
        if not scalars:
            return
        if record.get("event") is None:
            scalars.update({f"optim/{name}": rate for name, rate in learning_rates.items()})
        step = int(record["step"])
        self.each(lambda logger: logger.log_scalars(step, scalars))

    def samples(
        self,
        step: int,
        png: bytes,
        *,
        generator: Any,
        latents: Tensor,
        labels: Tensor | None = None,
    ) -> None:
        """Log a sample grid and, for a painter, the histograms and means of its rates and key
        entropies on the same latents (and, for a conditional one, labels)."""
        if not self.active:
            return
        self.each(lambda logger: logger.log_image(step, "samples/ema", png))
        if not isinstance(generator, FastWeightPainter):
            return
        statistics = painter_statistics(generator, latents, labels)
        means = {
            f"{tag}_mean": float(values.mean())
            for tag, values in statistics.items()
            if values.size and math.isfinite(float(values.mean()))
        }
        self.each(lambda logger: logger.log_histograms(step, statistics))
        self.each(lambda logger: logger.log_scalars(step, means))

    def close(self) -> None:
        for name, logger in list(self.loggers.items()):
            with self.guarded(name):
                logger.close()
        self.loggers.clear()
