"""The conventional baseline generator: a registered component trained in the same harness."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

import fpa
from fpa.baselines import BaselineConfig, BaselineGenerator, ConvGenerator
from fpa.cli import app
from fpa.errors import ConfigError
from fpa.runs.checkpoint import load_checkpoint
from tiny_runs import tiny

runner = CliRunner()


@pytest.mark.parametrize(("size", "channels"), [((32, 32), 1), ((16, 24), 3), ((32, 48), 4)])
def test_conv_generator_makes_images_in_range(size, channels):
    generator = ConvGenerator(latent_dim=8, image_size=size, channels=channels, width=4)
    images = generator(torch.randn(5, 8))
    assert images.shape == (5, channels, *size)
    assert images.abs().max() <= 1
    # Different latents give different images: the output depends on z.
    assert (images[0] - images[1]).abs().mean() > 1e-4


def test_conv_generator_refuses_sizes_it_cannot_reach():
    with pytest.raises(ConfigError, match="divisible"):
        ConvGenerator(latent_dim=8, image_size=(20, 20), channels=1)


def test_baseline_is_registered_and_described_as_not_a_painter():
    assert "conv" in fpa.available("baselines")
    result = runner.invoke(app, ["plugins", "--json"])
    listed = json.loads(result.stdout)
    entries = [c for c in listed["components"] if c["kind"] == "baselines"]
    assert [c["name"] for c in entries] == ["conv"]
    assert "not a painter" in entries[0]["description"]


def test_baseline_config_round_trips():
    config = BaselineConfig(
        baseline="conv", latent_dim=8, image_size=16, channels=1, options={"width": 4}
    )
    again = BaselineConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    assert isinstance(BaselineGenerator(config=again).network, ConvGenerator)


@pytest.mark.slow
def test_baseline_trains_samples_and_evaluates_but_does_not_paint(tmp_path, monkeypatch):
    monkeypatch.setenv("FPA_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "baseline"
    fpa.train(tiny(baseline="conv", baseline_options={"width": 4}), out=out)
    state = load_checkpoint(out / "checkpoints" / "latest.pt")
    assert state["components"]["baselines"]["name"] == "conv"
    assert "rules" not in state["components"]
    generator = fpa.load(out)
    assert isinstance(generator, BaselineGenerator)
    assert generator(torch.randn(2, generator.latent_dim)).shape == (2, 1, 16, 16)

    sampled = runner.invoke(app, ["sample", str(out), "--n", "4", "--out", str(tmp_path / "s.png")])
    assert sampled.exit_code == 0, sampled.output
    painted = runner.invoke(app, ["paint", str(out), "--out", str(tmp_path / "p.png")])
    assert painted.exit_code == 2 and "not a painter" in painted.output
    scored = fpa.evaluate(out, n=100, device="cpu")
    assert scored.scores["fid"] > 0


def test_baseline_with_a_refiner_is_refused():
    with pytest.raises(ConfigError, match="baseline"):
        tiny(baseline="conv", refiner="unet")


@pytest.mark.slow
def test_painter_and_baseline_in_one_ablation(tmp_path, monkeypatch):
    monkeypatch.setenv("FPA_CACHE_DIR", str(tmp_path / "cache"))
    result = fpa.ablate(
        {"baseline": ["", "conv"]},
        out=tmp_path / "grid",
        base=tiny(train_steps=1, baseline_options={"width": 4}),
        eval_n=100,
        progress=False,
    )
    assert [row["name"] for row in result.rows] == ["baseline-none", "baseline-conv"]
    assert result.rows[0]["parameters"] != result.rows[1]["parameters"]


@pytest.mark.slow
def test_train_command_evaluates_and_shows_scores(tmp_path, monkeypatch):
    monkeypatch.setenv("FPA_CACHE_DIR", str(tmp_path / "cache"))
    config = tmp_path / "tiny.toml"
    config.write_text(tiny().to_toml())
    out = tmp_path / "run"
    arguments = ["train", "--config", str(config), "--eval-every", "2", "--eval-n", "100"]
    result = runner.invoke(app, [*arguments, "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "FID" in result.output
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if r.get("event") == "eval"]
    assert [r["step"] for r in evals] == [2, 4]
    best = load_checkpoint(out / "checkpoints" / "best.pt")
    assert best["step"] == min(evals, key=lambda r: r["fid"])["step"]


@pytest.mark.slow
def test_train_command_refuses_an_unknown_extractor_before_training(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(tiny().to_toml())
    out = tmp_path / "run"
    arguments = ["train", "--config", str(config), "--eval-every", "2"]
    result = runner.invoke(app, [*arguments, "--eval-features", "nope", "--out", str(out)])
    assert result.exit_code == 2 and "nope" in result.output
