"""Two-stage training: a refiner trained on a frozen painter (``--init-from --freeze-painter``)."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

import fpa
from conftest import plugged_in
from fpa.cli import app
from fpa.runs.checkpoint import load_checkpoint
from fpa.training import prepare_run, train
from tiny_runs import tiny

runner = CliRunner()

# Every test here trains (most a painter run, then a refiner on it): end to end, so slow.
pytestmark = pytest.mark.slow


class ConvRefiner(torch.nn.Module):
    """A one-layer residual refiner, small enough for tests."""

    def __init__(self, *, image_size, channels):
        super().__init__()
        self.conv = torch.nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, images):
        return torch.tanh(images + self.conv(images))


class RefinerPlugin:
    @fpa.hookimpl
    def fpa_register_refiners(self, register):
        register("test-conv", ConvRefiner)


@pytest.fixture
def refiner_plugin():
    with plugged_in(RefinerPlugin(), name="test-refiner"):
        yield


@pytest.fixture
def painter_run(tmp_path):
    folder = tmp_path / "painter"
    train(tiny(train_steps=2), out=folder, progress=False)
    return folder


def refiner_config(painter_run, **changes):
    return tiny(
        **{
            "refiner": "test-conv",
            "init_from": str(painter_run),
            "freeze_painter": True,
            "train_steps": 2,
            **changes,
        }
    )


def painting_part(weights):
    return {k: v for k, v in weights.items() if not k.startswith("refiner.")}


def test_frozen_painter_stays_bit_identical_and_only_the_refiner_learns(
    refiner_plugin, painter_run, tmp_path
):
    first = load_checkpoint(painter_run / "checkpoints" / "latest.pt")
    trainer = prepare_run(refiner_config(painter_run, train_steps=3), out=tmp_path / "refine")
    assert trainer.state.optimizer_g.param_groups[0]["params"] == list(
        trainer.generator.refiner.parameters()
    )
    refiner_before = {k: v.clone() for k, v in trainer.generator.refiner.state_dict().items()}
    trainer.run()
    state = load_checkpoint(tmp_path / "refine" / "checkpoints" / "latest.pt")
    for weights in (state["generator"], state["ema_generator"]):
        painting = painting_part(weights)
        assert painting.keys() == painting_part(first["ema_generator"]).keys()
        for name, tensor in painting.items():
            assert torch.equal(tensor, first["ema_generator"][name]), name
    moved = [
        name
        for name, tensor in refiner_before.items()
        if not torch.equal(tensor, state["generator"][f"refiner.{name}"])
    ]
    assert moved, "the refiner did not learn"
    ema, raw = state["ema_generator"], state["generator"]
    assert not torch.equal(ema["refiner.conv.weight"], raw["refiner.conv.weight"])


def test_the_frozen_painting_gets_no_gradient(refiner_plugin, painter_run, tmp_path):
    trainer = prepare_run(refiner_config(painter_run), out=tmp_path / "refine")
    generator = trainer.generator
    generator(torch.randn(2, 8)).sum().backward()
    assert all(p.grad is None for n, p in generator.named_parameters() if "refiner" not in n)
    assert generator.refiner.conv.weight.grad.abs().sum() > 0


def test_the_discriminator_continues_unless_reset(refiner_plugin, painter_run, tmp_path):
    first = load_checkpoint(painter_run / "checkpoints" / "latest.pt")["discriminator"]
    kept = prepare_run(refiner_config(painter_run), out=tmp_path / "kept").discriminator
    for name, tensor in kept.state_dict().items():
        assert torch.equal(tensor, first[name]), name
    fresh = prepare_run(
        refiner_config(painter_run, reset_discriminator=True, seed=3), out=tmp_path / "fresh"
    ).discriminator
    assert any(not torch.equal(t, first[n]) for n, t in fresh.state_dict().items())


def test_a_two_stage_run_resumes_exactly(refiner_plugin, painter_run, tmp_path):
    train(refiner_config(painter_run, train_steps=4), out=tmp_path / "straight", progress=False)
    train(refiner_config(painter_run, train_steps=2), out=tmp_path / "split", progress=False)
    train(out=tmp_path / "split", resume=True, train_steps=4, progress=False)
    straight = load_checkpoint(tmp_path / "straight" / "checkpoints" / "latest.pt")
    split = load_checkpoint(tmp_path / "split" / "checkpoints" / "latest.pt")
    for key in ("generator", "ema_generator", "discriminator"):
        for name, tensor in straight[key].items():
            assert torch.equal(tensor, split[key][name]), (key, name)


def test_the_refiner_also_trains_jointly_from_scratch(refiner_plugin, tmp_path):
    config = tiny(refiner="test-conv", train_steps=2)
    trainer = prepare_run(config, out=tmp_path / "joint")
    before = {k: v.clone() for k, v in trainer.generator.state_dict().items()}
    trainer.run()
    after = trainer.generator.state_dict()
    assert not torch.equal(before["refiner.conv.weight"], after["refiner.conv.weight"])
    assert not torch.equal(before["head.linear.weight"], after["head.linear.weight"])


def test_bad_two_stage_input_is_one_line_and_exit_code_2(refiner_plugin, painter_run, tmp_path):
    cases = [
        (["--refiner", "test-conv", "--freeze-painter"], "needs --init-from"),
        (
            ["--refiner", "test-conv", "--init-from", str(painter_run), "--image-size", "32"],
            "image_size",
        ),
        (
            [
                "--refiner",
                "test-conv",
                "--init-from",
                str(painter_run),
                "--image-size",
                "16",
                "--channels",
                "3",
            ],
            "channels",
        ),
        (["--refiner", "unnet", "--init-from", str(painter_run)], "unknown refiner 'unnet'"),
        (["--init-from", str(tmp_path / "nothing")], "does not exist"),
    ]
    for args, message in cases:
        result = runner.invoke(app, ["train", "--out", str(tmp_path / "r"), "--quiet", *args])
        assert result.exit_code == 2, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (args, result.output)
