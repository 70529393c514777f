"""Loggers (docs/design.md §8): TensorBoard's event files, read back by TensorBoard's own
reader, hold the numbers of metrics.jsonl; a resume continues without duplicate steps; a
logger that fails never stops or harms the run; W&B works offline."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch

import fpa
from conftest import plugged_in
from fpa.errors import UnknownComponentError
from fpa.generator import FastWeightPainter, GeneratorConfig
from fpa.runs.run_dir import RunDir
from fpa.training.telemetry import Telemetry, painter_statistics, tags
from tiny_runs import tiny

event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator",
    reason="the TensorBoard checks need the tensorboard package (pip install 'fpa[tensorboard]')",
)


def read_events(run) -> event_accumulator.EventAccumulator:
    """The run's TensorBoard events as TensorBoard itself reads them (every event kept)."""
    keep_all = {"scalars": 0, "images": 0, "histograms": 0, "tensors": 0}
    events = event_accumulator.EventAccumulator(
        str(run / "logs" / "tensorboard"), size_guidance=keep_all
    )
    return events.Reload()


def logged(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def assert_scalars_equal_jsonl(run) -> int:
    """Every number of every metrics.jsonl record is a TensorBoard scalar at that step, once,
    with that value (TensorBoard stores float32); returns how many were compared."""
    events = read_events(run)
    compared = 0
    for group, records in (
        ("train", [r for r in logged(run) if "event" not in r]),
        ("eval", [r for r in logged(run) if r.get("event") == "eval"]),
    ):
        keys = {k for r in records for k in r} - {"step", "event", "eval_n"}
        for key in keys:
            want = [(r["step"], r[key]) for r in records if key in r]
            got = [(e.step, e.value) for e in events.Scalars(f"{group}/{key}")]
            assert [s for s, _ in got] == [s for s, _ in want], key
            assert [v for _, v in got] == pytest.approx([v for _, v in want], rel=1e-6), key
            compared += len(want)
    return compared


@pytest.fixture(scope="module")
def board_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("board") / "run"
    config = tiny(loggers=["jsonl", "tensorboard"], eval_every=2, eval_n=100, train_steps=4)
    fpa.train(config, out=out, progress=False)
    return out


@pytest.mark.slow
def test_tensorboard_scalars_equal_metrics_jsonl(board_run):
    compared = assert_scalars_equal_jsonl(board_run)
    # 4 steps × (loss_d, loss_g, loss_recon, images_per_s, elapsed_s), the R1 penalty of the
    # first step (reg_every = 4), and 2 evaluations × (fid, kid, kid_std)
    assert compared == 4 * 5 + 1 + 2 * 3
    tags_logged = read_events(board_run).Tags()
    assert {"train/loss_d", "train/loss_g", "eval/fid", "eval/kid", "optim/lr_g"} <= set(
        tags_logged["scalars"]
    )


@pytest.mark.slow
def test_tensorboard_has_sample_grids_and_painter_histograms(board_run):
    events = read_events(board_run)
    steps = [0, 2, 4]  # step 0, then every sample_every = 2
    assert [e.step for e in events.Images("samples/ema")] == steps
    first = events.Images("samples/ema")[-1]
    assert (first.width, first.height) == (2 + 2 * 18, 2 + 2 * 18)  # 4 samples of 16², padded
    for tag in ("painter/rates", "painter/key_entropy"):
        histograms = events.Histograms(tag)
        assert [h.step for h in histograms] == steps
        assert all(h.histogram_value.num > 0 for h in histograms)
    assert [e.step for e in events.Scalars("painter/key_entropy_mean")] == steps
    (config,) = events.Tensors("config/text_summary")
    assert config.step == 0 and b'"train_steps": 4' in config.tensor_proto.string_val[0]


@pytest.mark.slow
def test_a_resume_after_a_crash_continues_the_events_without_duplicates(tmp_path):
    out = tmp_path / "run"
    fpa.train(tiny(loggers=["tensorboard"], train_steps=4), out=out, progress=False)
    # A crash after step 4 was logged but before its checkpoint: latest.pt is step 2's.
    shutil.copy(out / "checkpoints" / "step_000002.pt", out / "checkpoints" / "latest.pt")
    fpa.train(out=out, resume=True, progress=False, train_steps=6)
    steps = [e.step for e in read_events(out).Scalars("train/loss_g")]
    assert steps == [1, 2, 3, 4, 5, 6]
    assert len(list((out / "logs" / "tensorboard").glob("events.*"))) == 2  # same run, 2 files
    assert_scalars_equal_jsonl(out)


class FailingLogger:
    """Starts, then fails on its second call: the run must go on without it."""

    calls = 0

    def __init__(self, *, folder, config, step) -> None:
        self.scalars: list[int] = []

    def log_scalars(self, step, scalars) -> None:
        FailingLogger.calls += 1
        if FailingLogger.calls >= 2:
            raise OSError(28, "No space left on device")
        self.scalars.append(step)

    def log_image(self, step, tag, png) -> None:
        pass

    def log_histograms(self, step, values) -> None:
        pass

    def close(self) -> None:
        pass


class BrokenAtStart:
    def __init__(self, *, folder, config, step) -> None:
        raise RuntimeError("cannot reach the tracking server")


class TestLoggers:
    @fpa.hookimpl
    def fpa_register_loggers(self, register):
        register("failing", FailingLogger)
        register("broken", BrokenAtStart)


@pytest.mark.slow
def test_a_failing_logger_warns_once_and_the_run_finishes(tmp_path, capsys):
    out = tmp_path / "run"
    with plugged_in(TestLoggers(), "test-loggers"):
        result = fpa.train(tiny(loggers=["failing", "broken"]), out=out, progress=False)
    assert result.status == "finished" and result.step == 4
    lines = capsys.readouterr().err.splitlines()
    warnings = [line for line in lines if line.startswith("warning: logger")]
    assert len(warnings) == 2, lines
    assert warnings[0].endswith("'broken' is off for this run: cannot reach the tracking server")
    assert "'failing' failed" in warnings[1] and "No space left on device" in warnings[1]
    assert [r["step"] for r in logged(out)] == [1, 2, 3, 4]


def test_an_unknown_logger_is_refused_before_the_folder_is_touched(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(UnknownComponentError, match="tensorboard"):
        fpa.train(tiny(loggers=["tensorbord"]), out=out, progress=False)
    assert not out.exists()


def test_a_missing_package_is_one_line_and_no_logger(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "wandb", None)  # as if not installed
    lines: list[str] = []
    telemetry = Telemetry.open(tiny(loggers=["wandb"]), RunDir(tmp_path), step=0, say=lines.append)
    assert not telemetry.active
    assert lines == [
        "warning: logger 'wandb' is off for this run: the wandb logger needs Weights & "
        "Biases: pip install 'fpa[wandb]'"
    ]


def test_only_rank_0_logs(tmp_path):
    telemetry = Telemetry.open(tiny(loggers=["tensorboard"]), RunDir(tmp_path), step=0, main=False)
    assert not telemetry.active and not any(tmp_path.iterdir())


def test_jsonl_records_become_tags_by_kind():
    assert tags({"step": 3, "loss_d": 1.5, "images_per_s": 10}) == {
        "train/loss_d": 1.5,
        "train/images_per_s": 10.0,
    }
    assert tags({"step": 4, "event": "eval", "eval_n": 100, "fid": 2.0}) == {"eval/fid": 2.0}
    assert tags({"step": 4, "event": "nan_restart", "count": 1}) == {}


def test_key_entropy_is_the_entropy_of_the_softmax_keys():
    torch.manual_seed(0)
    generator = FastWeightPainter(
        config=GeneratorConfig(
            image_size=(8, 12), paint_steps=4, latent_dim=8, painter_options={"hidden_size": 16}
        )
    ).eval()
    z = torch.randn(3, 8)
    statistics = painter_statistics(generator, z)
    keys = generator.commands(z).keys  # softmax over the W = 12 columns
    expected = torch.distributions.Categorical(probs=keys).entropy().flatten().detach().numpy()
    np.testing.assert_allclose(statistics["painter/key_entropy"], expected, rtol=1e-5)
    assert statistics["painter/key_entropy"].max() <= math.log(12) + 1e-6
    rates = generator.commands(z).rates.flatten().detach().numpy()
    np.testing.assert_allclose(statistics["painter/rates"], rates)


@pytest.mark.slow
def test_wandb_offline_logs_the_run_and_a_resume_keeps_its_id(tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="the W&B check needs wandb (pip install 'fpa[wandb]')")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "run"
    fpa.train(tiny(loggers=["wandb"], train_steps=2), out=out, progress=False)
    folder = out / "logs" / "wandb"
    run_id = (folder / "run_id").read_text()
    fpa.train(out=out, resume=True, progress=False, train_steps=4)
    assert (folder / "run_id").read_text() == run_id
    offline = sorted(path.name for path in (folder / "wandb").glob("offline-run-*"))
    # W&B names the folder offline-run-TIME-ID, with "-1" added when both runs start in the
    # same second.
    assert len(offline) == 2 and all(f"-{run_id}" in name for name in offline)
    for path in (folder / "wandb").glob("offline-run-*"):
        assert (path / f"run-{run_id}.wandb").stat().st_size > 0


def test_a_rules_declared_commands_are_logged_by_name():
    torch.manual_seed(0)
    generator = FastWeightPainter(
        config=GeneratorConfig(
            rule="gated-delta",
            image_size=(8, 12),
            paint_steps=4,
            latent_dim=8,
            painter_options={"hidden_size": 16},
        )
    ).eval()
    z = torch.randn(3, 8)
    statistics = painter_statistics(generator, z)
    gate = generator.commands(z).extra["gate"].flatten().detach().numpy()
    np.testing.assert_allclose(statistics["painter/gate"], gate)
