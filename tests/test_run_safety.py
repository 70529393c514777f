"""Issue 16's training-side promises: a failed start never harms the run it was to replace, a
run folder has one writer, and a resumed run with evaluation on is exact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import torch
from typer.testing import CliRunner

import fpa
from conftest import plugged_in
from fpa.cli import app
from fpa.rules.base import LearningRule
from fpa.runs.checkpoint import load_checkpoint
from fpa.runs.lock import LOCK_FILE, RunInUseError, RunLock
from fpa.training import train
from tiny_runs import tiny

runner = CliRunner()
pytestmark = pytest.mark.slow


def snapshot(run) -> dict[str, bytes]:
    """Every file of a run folder but the lock, by relative path."""
    return {
        str(path.relative_to(run)): path.read_bytes()
        for path in sorted(run.rglob("*"))
        if path.is_file() and path.name != LOCK_FILE
    }


class FailsAtFirstForward(LearningRule):
    def step(self, matrix, key, value, lr):
        raise RuntimeError("this plugin rule is broken\nwith a second line of detail")


class RuleHook:
    @fpa.hookimpl
    def fpa_register_rules(self, register):
        register("fails-at-first-forward", FailsAtFirstForward)


@pytest.fixture
def trained_run(tmp_path):
    run = tmp_path / "run"
    train(tiny(train_steps=2), out=run, progress=False)
    return run


def test_a_failed_overwrite_leaves_the_run_it_was_to_replace(tmp_path, trained_run):
    before = snapshot(trained_run)
    config = tmp_path / "tiny.toml"
    config.write_text(tiny().to_toml())
    arguments = ["train", "--config", str(config), "--out", str(trained_run), "--overwrite"]
    result = runner.invoke(app, [*arguments, "--eval-every", "100", "--eval-n", "50"])
    assert result.exit_code == 2 and "--n must be at least 100" in result.output
    assert snapshot(trained_run) == before


def test_a_plugin_that_fails_at_its_first_forward_leaves_the_run_as_it_was(tmp_path, trained_run):
    before = snapshot(trained_run)
    with plugged_in(RuleHook(), "broken-rule"):
        config = tmp_path / "tiny.toml"
        config.write_text(tiny(rule="fails-at-first-forward", rule_impl="step").to_toml())
        result = runner.invoke(
            app, ["train", "--config", str(config), "--out", str(trained_run), "--overwrite"]
        )
    assert result.exit_code == 2
    assert "nothing was written" in result.output and "this plugin rule is broken" in result.output
    assert "second line" not in result.output
    assert snapshot(trained_run) == before


def test_a_failed_start_in_a_new_folder_leaves_no_folder(tmp_path):
    with pytest.raises(fpa.ConfigError):
        train(tiny(eval_every=1, eval_n=50), out=tmp_path / "new", progress=False)
    assert not (tmp_path / "new").exists()


def test_a_run_folder_in_use_is_refused_naming_the_holder(tmp_path, trained_run):
    before = snapshot(trained_run)
    with RunLock(trained_run):
        with pytest.raises(RunInUseError, match=f"PID {os.getpid()}"):
            train(out=trained_run, resume=True, train_steps=3, progress=False)
        with pytest.raises(RunInUseError):
            train(tiny(), out=tmp_path / "run", overwrite=True, progress=False)
    assert snapshot(trained_run) == before
    # Released on exit, also after a failure: the run resumes now.
    assert train(out=trained_run, resume=True, train_steps=3, progress=False).step == 3


def test_two_processes_cannot_write_one_run(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(tiny(train_steps=400).to_toml())
    out = tmp_path / "run"
    command = [sys.executable, "-m", "fpa", "train", "--config", str(config), "--out", str(out)]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoints" / "latest.pt").exists():
            assert first.poll() is None, first.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline
            time.sleep(0.2)
        second = subprocess.run(
            [sys.executable, "-m", "fpa", "train", "--out", str(out), "--resume"],
            capture_output=True,
            text=True,
        )
        assert second.returncode == 2
        assert f"PID {first.pid}" in second.stderr and "in use" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
    finally:
        first.terminate()
        first.wait(timeout=60)
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and len(steps) == len(set(steps))


def test_resume_is_exact_with_evaluation_and_a_painter_that_draws_randomness(tmp_path):
    settings = {
        "painter": "transformer",
        "painter_options": {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "dropout": 0.1},
        "eval_every": 3,
        "eval_n": 100,
        "train_steps": 6,
    }
    train(tiny(**settings), out=tmp_path / "straight", progress=False)
    train(tiny(**{**settings, "train_steps": 4}), out=tmp_path / "split", progress=False)
    train(out=tmp_path / "split", resume=True, train_steps=6, progress=False)
    straight = load_checkpoint(tmp_path / "straight" / "checkpoints" / "latest.pt")
    split = load_checkpoint(tmp_path / "split" / "checkpoints" / "latest.pt")
    for key in ("generator", "discriminator", "ema_generator", "random", "torch_rng"):
        for name in straight[key] if isinstance(straight[key], dict) else [None]:
            left = straight[key] if name is None else straight[key][name]
            right = split[key] if name is None else split[key][name]
            assert torch.equal(left, right), (key, name)

    def records(run):
        lines = (tmp_path / run / "metrics.jsonl").read_text().splitlines()
        drop = {"elapsed_s", "images_per_s"}
        return [{k: v for k, v in json.loads(line).items() if k not in drop} for line in lines]

    assert records("straight") == records("split")
    assert [r["step"] for r in records("split") if r.get("event") == "eval"] == [3, 6]
