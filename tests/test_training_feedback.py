"""What `fpa train` tells its user: log lines, scores, the time left, finished runs, channels."""

from __future__ import annotations

import io
import select
import signal
import subprocess
import sys
import time

import pytest
from rich.console import Console
from typer.testing import CliRunner

from conftest import image_folder
from fpa.cli import app
from fpa.data import data_is_grey
from fpa.training import TrainConfig, resolve_config, train
from fpa.training.progress import TIMED_STEPS, WARMUP_STEPS, ProgressReporter, TimeLeft
from tiny_runs import tiny

runner = CliRunner()


def config_file(tmp_path, **changes) -> str:
    path = tmp_path / "tiny.toml"
    path.write_text(tiny(**changes).to_toml())
    return str(path)


def logged_steps(output: str) -> list[str]:
    return [line.split()[1] for line in output.splitlines() if line.startswith("step ")]


# ------------------------------------------------------------------ log lines
@pytest.mark.slow
def test_log_lines_reach_a_pipe_every_log_every_steps_while_the_run_goes_on(tmp_path):
    # Not --quiet: stderr being a pipe is what switches the bar to plain lines.
    config = config_file(
        tmp_path,
        train_steps=100_000,
        checkpoint_every=100_000,
        sample_every=100_000,
        log_every=3,
        quiet=False,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "fpa", "train", "--config", config, "--out", str(tmp_path / "r")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 120
        while len(lines) < 3:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([process.stderr], [], [], max(left, 0))
            assert ready, f"no log line reached the pipe while training; got {lines}"
            line = process.stderr.readline()
            assert line, f"stderr closed early: {lines}"
            if line.startswith("step "):
                lines.append(line)
        assert process.poll() is None  # 100,000 steps: the run is far from done
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=120)
    assert process.returncode == 130
    assert logged_steps("".join(lines)) == ["3/100000", "6/100000", "9/100000"]
    assert all(" img/s  D " in line and " G " in line for line in lines)


@pytest.mark.slow
def test_quiet_prints_a_line_every_log_every_steps(tmp_path):
    config = config_file(tmp_path, train_steps=6, log_every=2, sample_every=250)
    result = runner.invoke(
        app, ["train", "--config", config, "--quiet", "--out", str(tmp_path / "run")]
    )
    assert result.exit_code == 0, result.output
    assert logged_steps(result.output) == ["2/6", "4/6", "6/6"]


def test_plain_lines_carry_the_latest_score_and_the_time_left(capsys):
    now = [0.0]
    reporter = ProgressReporter(total=20, start=0, quiet=True, every=5, clock=lambda: now[0])
    with reporter:
        for step in range(1, 21):
            now[0] += 2.0
            scores = {"fid": 1.5} if step == 10 else {}
            reporter.update(step, {"images_per_s": 8.0, "loss_d": 1.0, "loss_g": 2.0, **scores})
    lines = capsys.readouterr().err.splitlines()
    assert logged_steps("\n".join(lines)) == ["5/20", "10/20", "15/20", "20/20"]
    assert "FID" not in lines[0] and "ETA" not in lines[0]
    assert lines[1].endswith("FID 1.5  ETA 0:00:20")
    assert lines[2].endswith("FID 1.5  ETA 0:00:10")


# ------------------------------------------------------------------ the time left
def test_the_time_left_ignores_the_slow_first_steps_and_waits_for_a_few_timed_ones():
    now = [0.0]
    time_left = TimeLeft(total=100, start=40, clock=lambda: now[0])  # a resumed run
    estimates = []
    for step in range(41, 61):
        now[0] += 90.0 if step == 41 else 1.0  # a first step 90 times slower than the rest
        estimates.append(time_left.update(step))
    shown = WARMUP_STEPS + TIMED_STEPS  # the index of the first estimate shown, plus one
    assert estimates[: shown - 1] == [None] * (shown - 1)
    assert estimates[shown - 1 :] == [pytest.approx(100 - step) for step in range(40 + shown, 61)]


def test_the_time_left_starts_over_after_a_rollback():
    now = [0.0]
    time_left = TimeLeft(total=100, start=0, clock=lambda: now[0])
    for step in range(1, 15):
        now[0] += 1.0
        time_left.update(step)
    now[0] += 50.0  # reloading the last checkpoint after a NaN
    assert time_left.update(10) is None


def test_a_time_budget_caps_the_time_left_at_the_rate_training_time_passes():
    now = [0.0]
    time_left = TimeLeft(total=100_000, start=0, budget=240.0, clock=lambda: now[0])
    trained, estimates = 0.0, []
    for step in range(1, 41):
        now[0] += 2.0  # wall time: a step and, spread over it, evaluations and samples
        trained += 1.0  # what the budget counts
        estimates.append(time_left.update(step, trained))
    # 200 s of the budget are left, passing at half the wall clock's speed.
    assert estimates[-1] == pytest.approx(400.0)
    assert time_left.update(41, 250.0) == 0.0  # over budget: the run stops at the next step
    unbounded = TimeLeft(total=100, start=0, budget=1e9, clock=lambda: now[0])
    for step in range(1, 41):
        now[0] += 1.0
        left = unbounded.update(step, float(step))
    assert left == pytest.approx(60.0)  # the steps end before the budget does


def test_a_run_stopped_by_its_time_budget_writes_the_samples_of_the_step_it_reached(tmp_path):
    result = train(tiny(sample_every=100), out=tmp_path / "run", time_budget=1e-9, progress=False)
    assert (result.status, result.step) == ("budget", 1)
    samples = tmp_path / "run" / "samples"
    assert sorted(path.name for path in samples.iterdir()) == [
        "latest.png",
        "step_000000.png",
        "step_000001.png",
    ]
    assert (samples / "latest.png").read_bytes() == (samples / "step_000001.png").read_bytes()


def test_the_progress_bar_keeps_every_number_whole_in_80_columns():
    now = [0.0]
    for scores, width in (({"fid": 123.4}, 80), ({"fid": 123.4, "kid": 0.01234}, 80), ({}, 120)):
        console = Console(file=io.StringIO(), width=width, force_terminal=True, color_system=None)
        now[0] = 0.0
        reporter = ProgressReporter(
            total=100_000, start=0, quiet=False, every=1, console=console, clock=lambda: now[0]
        )
        for step in range(1, 12346):
            now[0] += 0.5
            metrics = {"images_per_s": 1234.5, "loss_d": 1.234, "loss_g": -12.345}
            metrics |= scores if step == 12345 else {}
            reporter.update(step, metrics)
        console.print(reporter.bar.get_renderable())
        drawn = console.file.getvalue()
        assert all(len(line) <= width for line in drawn.splitlines()), drawn
        words = drawn.split()
        shown = ("12345/100000", "1234", "img/s", "1.234", "-12.345", "1:42:52", "ETA", "12:10:28")
        for whole in shown:
            assert whole in words, (whole, drawn)
        assert ("FID" in words and "123.4" in words) == ("fid" in scores), drawn
        assert ("0.01234" in words) == ("kid" in scores), drawn
        assert ("━" in drawn) == (width >= 100), drawn


# ------------------------------------------------------------------ evaluation by default
def test_the_cpu_presets_score_as_they_train_and_other_data_keeps_evaluation_off(tmp_path):
    for name in ("cpu-demo", "cpu-demo-512", "cpu-emoji", "cpu-emoji-64"):
        config = resolve_config(preset_name=name)
        assert (config.eval_every, config.eval_n, config.eval_metrics) == (300, 2000, ("fid",))
    assert resolve_config().eval_every == 300  # cpu-demo is the default preset
    folder = image_folder(tmp_path / "images", 2, colour=True)
    assert resolve_config(overrides={"data": folder}).eval_every == 0
    assert resolve_config(preset_name="cpu-demo", overrides={"data": "cifar10"}).eval_every == 0
    assert resolve_config(overrides={"data": folder, "eval_every": 7}).eval_every == 7
    named = resolve_config(overrides={"data": folder, "eval_features": "inception"})
    assert named.eval_every == 300
    assert resolve_config(preset_name="paper-64").eval_every == 0
    # The tests' tiny runs, and a bare config, do not evaluate.
    assert tiny().eval_every == 0 and TrainConfig().eval_every == 0


# ------------------------------------------------------------------ a finished run
@pytest.mark.slow
def test_resuming_a_finished_run_says_how_to_extend_it_and_writes_nothing(tmp_path):
    run = tmp_path / "run"
    train(tiny(train_steps=2), out=run, progress=False)

    def files():  # the run's files; the lock is taken, and let go, as by any writer
        kept = [p for p in run.rglob("*") if p.is_file() and p.name != ".lock"]
        return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in kept}

    before = files()
    result = runner.invoke(app, ["train", "--out", str(run), "--resume"])
    assert result.exit_code == 0, result.output
    assert f"already finished at step 2; to train it further: fpa train --out {run}" in (
        result.output.replace("\n", " ")
    )
    assert "--resume --train-steps 4" in result.output and "done:" not in result.output
    assert files() == before
    assert train(out=run, resume=True, progress=False).status == "already_finished"


# ------------------------------------------------------------------ channels from the data
@pytest.mark.parametrize(
    ("colour", "channels", "kind"), [(True, 3, "in colour"), (False, 1, "grey")]
)
def test_the_channels_of_folder_data_follow_the_images(tmp_path, colour, channels, kind):
    folder = image_folder(tmp_path / "images", 3, colour=colour)
    result = runner.invoke(
        app, ["train", "--dry-run", "--data", folder, "--out", str(tmp_path / "run")]
    )
    assert result.exit_code == 0, result.output
    assert f"channels: {channels} (the images of {folder} are {kind};" in result.output
    assert f"\nchannels = {channels}\n" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["--channels", "1"],
        ["--set", "channels=1"],
        ["--preset", "cpu-emoji", "--colour-basis", "direct", "--channels", "1"],
        ["--set", "image_size=[16,16]", "--image-size", "16", "--channels", "4"],
    ],
)
def test_channels_the_user_chose_are_kept(tmp_path, args):
    folder = image_folder(tmp_path / "images", 3, colour=True)
    chosen = int(args[args.index("--channels") + 1]) if "--channels" in args else 1
    result = runner.invoke(
        app, ["train", "--dry-run", "--data", folder, "--out", str(tmp_path / "run"), *args]
    )
    assert result.exit_code == 0, result.output
    assert "channels:" not in result.output
    assert f"\nchannels = {chosen}\n" in result.output


def test_grey_channels_with_the_colour_preset_say_how_to_paint_them(tmp_path):
    """cpu-emoji paints in YCbCr, which needs 3 channels: one line says what to change."""
    folder = image_folder(tmp_path / "images", 3, colour=False)
    result = runner.invoke(
        app,
        [
            "train",
            "--dry-run",
            "--data",
            folder,
            "--out",
            str(tmp_path / "run"),
            "--preset",
            "cpu-emoji",
            "--channels",
            "1",
        ],
    )
    assert result.exit_code == 2
    assert "channels is 1" in result.output
    assert "--colour-basis direct" in result.output
    assert "Traceback" not in result.output


def test_channels_from_a_config_file_or_a_preset_are_kept(tmp_path):
    folder = image_folder(tmp_path / "images", 3, colour=False)
    config = config_file(tmp_path, channels=3)
    for args in (["--config", config], ["--preset", "paper-64", "--image-size", "64"]):
        result = runner.invoke(
            app, ["train", "--dry-run", "--data", folder, "--out", str(tmp_path / "run"), *args]
        )
        assert result.exit_code == 0, result.output
        assert "channels:" not in result.output
        assert "\nchannels = 3\n" in result.output


def test_built_in_data_is_not_probed_for_its_channels(tmp_path):
    for data, channels in (("emoji", 3), ("mnist", 1)):
        result = runner.invoke(
            app, ["train", "--dry-run", "--data", data, "--out", str(tmp_path / "run")]
        )
        assert result.exit_code == 0, result.output
        assert "channels:" not in result.output
        assert f"\nchannels = {channels}\n" in result.output


@pytest.mark.parametrize(
    ("args", "strokes", "channels"),
    [
        (["--data", "emoji", "--channels", "3"], "coloured", 3),
        (["--data", "emoji"], "coloured", 3),
        (["--data", "emoji", "--channels", "1"], "per-channel", 1),
        (["--channels", "3"], "coloured", 3),
        (["--channels", "3", "--strokes", "shared-key"], "shared-key", 3),
        (["--channels", "3", "--preset", "cpu-demo"], "per-channel", 3),
        ([], "per-channel", 1),
    ],
)
def test_a_colour_run_that_names_no_preset_starts_from_the_colour_recipe(
    tmp_path, args, strokes, channels
):
    result = runner.invoke(app, ["train", "--dry-run", "--out", str(tmp_path / "run"), *args])
    assert result.exit_code == 0, result.output
    assert f'\nstrokes = "{strokes}"\n' in result.output
    assert f"\nchannels = {channels}\n" in result.output


def test_a_colour_folder_starts_from_the_colour_recipe(tmp_path):
    for colour, strokes in ((True, "coloured"), (False, "per-channel")):
        folder = image_folder(tmp_path / f"images-{colour}", 3, colour=colour)
        result = runner.invoke(
            app, ["train", "--dry-run", "--data", folder, "--out", str(tmp_path / "run")]
        )
        assert result.exit_code == 0, result.output
        assert f'\nstrokes = "{strokes}"\n' in result.output
        assert '\ndata = "emoji"\n' not in result.output  # the recipe, not the preset's data


def test_data_is_grey_probes_folders_and_built_in_data(tmp_path):
    assert data_is_grey(image_folder(tmp_path / "grey", 3, colour=False), image_size=8)
    assert not data_is_grey(image_folder(tmp_path / "colour", 3, colour=True), image_size=8)
    assert data_is_grey("mnist", image_size=16)
