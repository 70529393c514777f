"""Adaptive augmentation (ADA): the probability's update, the run it drives, exact resume."""

from __future__ import annotations

import json

import pytest
import torch

from fpa.errors import ConfigError
from fpa.runs.checkpoint import load_checkpoint
from fpa.training import train
from fpa.training.augment import adapted_probability
from tiny_runs import crash_then_resume, tiny


def update(prob: float, real_sign: float, *, ceiling: float = 0.8) -> float:
    return adapted_probability(
        prob, real_sign=real_sign, target=0.6, images=64, adapt_images=1_000, ceiling=ceiling
    )


def test_the_probability_rises_when_d_overfits_and_falls_when_it_does_not():
    assert update(0.5, real_sign=0.9) == pytest.approx(0.564)
    assert update(0.5, real_sign=-0.2) == pytest.approx(0.436)
    assert update(0.5, real_sign=0.6) == 0.5


def test_the_probability_stays_between_zero_and_its_ceiling():
    assert update(0.03, real_sign=0.0) == 0.0
    assert update(0.78, real_sign=1.0) == 0.8
    assert update(0.3, real_sign=1.0, ceiling=0.3) == 0.3


def records(run) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [record for record in map(json.loads, lines) if "loss_d" in record]


def test_an_adaptive_run_whose_probability_stays_at_zero_is_the_run_without_augmentation(
    tmp_path,
):
    """A target of 1 is never exceeded, so the probability never leaves 0, and DiffAugment at
    probability 0 draws nothing: the weights equal those of the run with augmentation off."""
    train(tiny(augment="adaptive", augment_target=1.0), out=tmp_path / "adaptive", progress=False)
    train(tiny(augment="off"), out=tmp_path / "off", progress=False)
    logged = records(tmp_path / "adaptive")
    assert [record["augment_p"] for record in logged] == [0.0] * 4
    assert all(-1 <= record["real_sign"] <= 1 for record in logged)
    adaptive = load_checkpoint(tmp_path / "adaptive" / "checkpoints" / "latest.pt")
    off = load_checkpoint(tmp_path / "off" / "checkpoints" / "latest.pt")
    for name, weight in off["generator"].items():
        assert torch.equal(weight, adaptive["generator"][name]), name


# Each step moves the probability by a whole 1 (8 reals per step, 8 per unit), so it sits at
# 0 or its ceiling, after a step whose reals D called mostly fake or mostly real.
JUMPY = {"augment": "adaptive", "augment_target": 0.0, "augment_adapt_images": 8}


def test_each_step_moves_the_probability_by_what_d_said_of_that_steps_reals(tmp_path):
    train(tiny(**JUMPY, augment_prob=0.25, train_steps=6), out=tmp_path / "run", progress=False)
    previous = 0.0
    for record in records(tmp_path / "run"):
        sign = record["real_sign"]
        expected = previous if sign == 0 else (0.25 if sign > 0 else 0.0)
        assert record["augment_p"] == expected, record
        previous = expected


def test_an_adaptive_run_that_crashed_resumes_with_its_probability(tmp_path):
    config = tiny(**JUMPY)
    train(config, out=tmp_path / "straight", progress=False)
    at_two = load_checkpoint(tmp_path / "straight" / "checkpoints" / "step_000002.pt")
    assert at_two["augment_prob"] == 0.5  # what a resume must restore, not start again at 0
    crash_then_resume(config, tmp_path / "split", at_step=2)
    straight = load_checkpoint(tmp_path / "straight" / "checkpoints" / "latest.pt")
    split = load_checkpoint(tmp_path / "split" / "checkpoints" / "latest.pt")
    assert split["step"] == 4 and split["augment_prob"] == straight["augment_prob"]
    for name, weight in straight["generator"].items():
        assert torch.equal(weight, split["generator"][name]), name


@pytest.mark.parametrize(
    ("name", "value"),
    [("augment_target", 1.5), ("augment_target", -0.1), ("augment_adapt_images", 0)],
)
def test_settings_outside_their_range_are_refused(name, value):
    with pytest.raises(ConfigError, match=name):
        tiny(**{name: value})
