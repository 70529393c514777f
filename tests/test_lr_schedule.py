"""The learning-rate decay: the factor's shape, the rates a run actually used, exact resume."""

from __future__ import annotations

import pytest
import torch

from fpa.errors import ConfigError
from fpa.runs.checkpoint import load_checkpoint
from fpa.runs.run_dir import RunDir
from fpa.training import Trainer, train
from fpa.training.lr_schedule import lr_factor
from tiny_runs import crash_then_resume, tiny


def test_the_factor_is_one_until_the_decay_starts_then_falls_linearly_to_zero():
    factors = [lr_factor(step=step, train_steps=10, decay_from=0.6) for step in range(10)]
    assert factors[:6] == [1.0] * 6
    assert factors[6:] == pytest.approx([4 / 4, 3 / 4, 2 / 4, 1 / 4])
    assert lr_factor(step=10, train_steps=10, decay_from=0.6) == 0.0


def test_decay_from_one_keeps_the_rate_constant_and_from_zero_decays_the_whole_run():
    assert {lr_factor(step=s, train_steps=7, decay_from=1.0) for s in range(7)} == {1.0}
    whole = [lr_factor(step=s, train_steps=4, decay_from=0.0) for s in range(4)]
    assert whole == pytest.approx([1.0, 0.75, 0.5, 0.25])


def test_each_update_uses_the_scheduled_rates_for_both_players(tmp_path):
    config = tiny(lr_decay_from=0.5, lr=1e-3, lr_d=2e-3)
    for folder in ("checkpoints", "samples"):
        (tmp_path / "run" / folder).mkdir(parents=True)
    trainer = Trainer(config, RunDir(tmp_path / "run"))
    used: list[tuple[float, float]] = []

    def record(step, metrics):
        s = trainer.state
        used.append((s.optimizer_g.param_groups[0]["lr"], s.optimizer_d.param_groups[0]["lr"]))

    trainer.run(on_step=record)
    assert [g for g, _ in used] == pytest.approx([1e-3, 1e-3, 1e-3, 5e-4])
    assert [d for _, d in used] == pytest.approx([2e-3, 2e-3, 2e-3, 1e-3])


def test_a_decaying_run_that_crashed_resumes_exactly(tmp_path):
    """The schedule is a function of the step, so the resumed run makes the same updates."""
    train(tiny(lr_decay_from=0.25), out=tmp_path / "straight", progress=False)
    crash_then_resume(tiny(lr_decay_from=0.25), tmp_path / "split", at_step=2)
    straight = load_checkpoint(tmp_path / "straight" / "checkpoints" / "latest.pt")
    split = load_checkpoint(tmp_path / "split" / "checkpoints" / "latest.pt")
    assert split["step"] == 4
    for name, weight in straight["generator"].items():
        assert torch.equal(weight, split["generator"][name]), name


@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_a_decay_start_outside_the_run_is_refused(value):
    with pytest.raises(ConfigError, match="lr_decay_from"):
        tiny(lr_decay_from=value)


SMALL_REFINER = {"width": 8, "multipliers": [1], "groups": 4, "full_attention": False}


def test_the_refiner_learns_at_its_own_rate_and_decays_with_the_painter(tmp_path):
    config = tiny(
        refiner="unet",
        refiner_options=SMALL_REFINER,
        lr=1e-3,
        lr_refiner=2.5e-4,
        lr_decay_from=0.5,
    )
    for folder in ("checkpoints", "samples"):
        (tmp_path / "run" / folder).mkdir(parents=True)
    trainer = Trainer(config, RunDir(tmp_path / "run"))
    generator = trainer.state.generator
    groups = trainer.state.optimizer_g.param_groups
    refiner_ids = {id(p) for p in generator.refiner.parameters()}
    assert [{id(p) for p in g["params"]} == refiner_ids for g in groups] == [False, True]
    trained = sum(len(g["params"]) for g in groups)
    assert trained == len([p for p in generator.parameters() if p.requires_grad])
    used: list[tuple[float, float]] = []
    trainer.run(on_step=lambda step, metrics: used.append(tuple(g["lr"] for g in groups)))
    assert [painter for painter, _ in used] == pytest.approx([1e-3, 1e-3, 1e-3, 5e-4])
    assert [refiner for _, refiner in used] == pytest.approx([2.5e-4] * 3 + [1.25e-4])


def test_the_refiners_rate_moves_only_the_refiner(tmp_path):
    """A refiner rate of almost zero leaves the refiner where it started; the painter moves."""
    config = tiny(refiner="unet", refiner_options=SMALL_REFINER, lr_refiner=1e-30)
    for folder in ("checkpoints", "samples"):
        (tmp_path / "run" / folder).mkdir(parents=True)
    trainer = Trainer(config, RunDir(tmp_path / "run"))
    before = {n: p.detach().clone() for n, p in trainer.state.generator.named_parameters()}
    trainer.run()
    after = dict(trainer.state.generator.named_parameters())
    moved = {n for n, p in after.items() if not torch.allclose(p, before[n], atol=1e-12, rtol=0)}
    assert moved and not any(n.startswith("refiner.") for n in moved)
    assert any(n.startswith("painter.") or n.startswith("head.") for n in moved)


def test_a_refiner_rate_without_a_refiner_is_refused():
    with pytest.raises(ConfigError, match="lr_refiner"):
        tiny(lr_refiner=1e-4)
    with pytest.raises(ConfigError, match="learning rates"):
        tiny(refiner="unet", lr_refiner=-1e-4)
