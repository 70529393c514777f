"""A tiny training configuration shared by the tests that train (a step takes well under 1 s)."""

from __future__ import annotations

from fpa.training import TrainConfig

TINY = {
    "image_size": [16, 16],
    "paint_steps": 4,
    "latent_dim": 8,
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
