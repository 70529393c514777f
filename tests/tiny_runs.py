"""A tiny training configuration shared by the tests that train (a step takes well under 1 s)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fpa.training import TrainConfig, Trainer, train

TINY = {
    "image_size": [16, 16],
    "paint_steps": 4,
    "latent_dim": 8,
    "painter": "lstm",
    "painter_options": {"hidden_size": 16, "input_size": 8},
    "batch_size": 8,
    "train_steps": 4,
    "sample_every": 2,
    "sample_count": 4,
    "checkpoint_every": 2,
    "log_every": 1,
    "device": "cpu",
    "quiet": True,
}


def tiny(**changes) -> TrainConfig:
    """The tiny config with ``changes`` applied."""
    return TrainConfig().with_overrides({**TINY, **changes})


class CrashError(Exception):
    """Stands for a run killed after a checkpoint."""


def crash_then_resume(config: TrainConfig, out: Path, *, at_step: int) -> None:
    """Train ``config`` in ``out`` until it crashes at the start of step ``at_step + 1``
    (after that step's checkpoint, with ``checkpoint_every`` dividing ``at_step``), then
    resume it to the end, as a user would after a crash."""
    step_once = Trainer.discriminator_step

    def crash(trainer):
        if trainer.state.step == at_step:
            raise CrashError
        return step_once(trainer)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Trainer, "discriminator_step", crash)
        with pytest.raises(CrashError):
            train(config, out=out, progress=False)
    train(out=out, resume=True, progress=False)
