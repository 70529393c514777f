"""Issue 16's fault-injection suite: the promises of docs/usage.md "When things go wrong", tried.

Each section injects one kind of fault into a real run and checks what is left behind
(docs/reliability.md has the table): ``kill -9`` mid-save, SIGTERM and SIGINT, a full disk, two
writers on one run folder, files that would run code when unpickled, NaN losses, and exact
resumes across option combinations. Children are real ``python -m fpa`` processes of the fpa
under test; everything else runs in this process through the CLI (CliRunner) or the API.

What other files test already is not repeated: a corrupt or truncated checkpoint, a failed
``--overwrite`` or first step (test_run_safety), ``train --resume`` against a live run, NaN
restarts through the Python API (test_training). The SIGTERM case here goes further than
test_training's: the checkpoint is of the step reached, and the resume finishes.
"""

from __future__ import annotations

import errno
import json
import os
import pathlib
import pickle
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import fpa
import fpa.files
from fpa.cli import app
from fpa.data.cache import load_arrays
from fpa.features.offline import read_weights
from fpa.runs.checkpoint import CheckpointError, load_checkpoint
from fpa.runs.lock import LOCK_FILE
from fpa.training import train
from fpa.training.loop import Trainer
from fpa.training.losses import DiscriminatorLoss
from test_bad_input import one_error_line
from test_import_fpainter import Spec, authors_checkpoint
from test_run_safety import snapshot
from test_training import EXACT_KEYS, tensors_equal
from tiny_runs import tiny

pytestmark = pytest.mark.slow
runner = CliRunner()

# The src folder of the fpa under test (this checkout, or CI's editable install), for children.
SOURCE = str(Path(fpa.__file__).resolve().parents[1])
PATIENCE = 180  # seconds a child may take to reach a point the test waits for


# ------------------------------------------------------------------------------- helpers
def child_env() -> dict[str, str]:
    """The environment of an ``fpa`` child: this fpa first on the path, and as many threads as
    this process uses, so that its arithmetic is bit for bit the arithmetic here."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [SOURCE, env.get("PYTHONPATH")]))
    env["OMP_NUM_THREADS"] = str(torch.get_num_threads())
    return env


def start_fpa(*args, code: str | None = None) -> subprocess.Popen:
    """``python -m fpa ARGS`` (or ``python -c CODE ARGS``) in the background."""
    prefix = ["-c", code] if code else ["-m", "fpa"]
    return subprocess.Popen(
        [sys.executable, *prefix, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def records(run: Path) -> list[dict]:
    """The complete lines of a run's metrics log (a line cut short by a kill is skipped)."""
    path = run / "metrics.jsonl"
    if not path.is_file():
        return []
    kept = []
    for line in path.read_text().splitlines():
        try:
            kept.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return kept


def logged_steps(run: Path) -> list[int]:
    return [r["step"] for r in records(run) if "event" not in r]


def wait_until(condition, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if process.poll() is not None:
            _, stderr = process.communicate()
            pytest.fail(f"fpa exited ({process.returncode}) before {what}: {stderr[-2000:]}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def temporaries(run: Path) -> list[Path]:
    """Hidden files an interrupted atomic write could leave (the lock is not one)."""
    return [p for p in run.rglob(".*") if p.is_file() and p.name != LOCK_FILE]


def latest(run: Path) -> Path:
    return run / "checkpoints" / "latest.pt"


def write_config(path: Path, **changes) -> Path:
    path.write_text(tiny(**changes).to_toml())
    return path


def resume_to(run: Path, steps: int) -> None:
    """``fpa train --resume`` to ``steps``; it must finish there with every step logged once."""
    result = invoke("train", "--out", run, "--resume", "--train-steps", steps, "--quiet")
    assert result.exit_code == 0, result.output
    assert load_checkpoint(latest(run))["step"] == steps
    assert logged_steps(run) == list(range(1, steps + 1))


def final_error_line(result, *words: str) -> str:
    """A failed training's verdict: exit code 2, no traceback, and one ``error:`` line, the
    last (after the progress lines of the steps it made)."""
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert [line for line in lines if line.startswith("error:")] == lines[-1:], result.output
    assert "Traceback" not in result.output
    for word in words:
        assert word in lines[-1], lines[-1]
    return lines[-1]


def assert_same_training_state(left: dict, right: dict) -> None:
    for key in EXACT_KEYS:
        assert tensors_equal(left[key], right[key]), key


# ==================================================================== 1. kill -9 mid-save
KILL_RUN = {"train_steps": 100_000, "checkpoint_every": 1}
_delays = random.Random(16)  # seeded: the same five moments on every run
KILL_DELAYS = sorted(round(_delays.uniform(0.0, 1.5), 2) for _ in range(5))

# A child that trains as ``fpa train`` does, but stops for good inside the write of its fourth
# latest.pt (the save after step 2; the first is the run's start, the second step 0's): either
# half the bytes in the temporary file, or all of them just before the rename. It says so by
# writing the signal file, then waits to be killed.
STALLED_SAVE = """
import io, os, sys, time
from pathlib import Path
import fpa.files as files
moment, signal_file, args = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
original, writes = files.atomic_write, []
def atomic_write(path, write):
    if Path(path).name == "latest.pt":
        writes.append(path)
    if len(writes) != 4 or Path(path).name != "latest.pt":
        return original(path, write)
    def stalled(file):
        buffer = io.BytesIO()
        write(buffer)
        data = buffer.getvalue()
        file.write(data[: len(data) // 2] if moment == "half-written" else data)
        file.flush()
        os.fsync(file.fileno())
        signal_file.write_text(str(path))
        time.sleep(3600)
    return original(path, stalled)
files.atomic_write = atomic_write
sys.argv = ["fpa", *args]
from fpa.cli import run
run()
"""


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Checkpoints of one straight run of the kill tests' config, at any step asked for (the
    run is extended by exact resumes when a later step is needed)."""
    run = tmp_path_factory.mktemp("reference") / "run"
    train(tiny(**{**KILL_RUN, "train_steps": 8}), out=run, progress=False)

    def at(step: int) -> dict:
        path = run / "checkpoints" / f"step_{step:06d}.pt"
        if not path.is_file():
            train(out=run, resume=True, train_steps=step, progress=False)
        return load_checkpoint(path)

    return at


@pytest.mark.parametrize(
    "moment",
    ["half-written", "before-rename", *(f"random-{delay}s" for delay in KILL_DELAYS)],
)
def test_kill_9_mid_save_leaves_a_latest_checkpoint_that_resumes_exactly(
    tmp_path, reference, moment
):
    run, config = tmp_path / "run", write_config(tmp_path / "tiny.toml", **KILL_RUN)
    arguments = ["train", "--config", config, "--out", run]
    if moment.startswith("random"):
        process = start_fpa(*arguments)
        wait_until(lambda: logged_steps(run), process, "the first step")
        time.sleep(float(moment.removeprefix("random-").removesuffix("s")))
    else:
        signal_file = tmp_path / "stalled"
        process = start_fpa(moment, signal_file, *arguments, code=STALLED_SAVE)
        wait_until(signal_file.exists, process, "the stalled save")
    process.kill()
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL

    state = load_checkpoint(latest(run))  # loads: whole, whatever the moment
    steps = logged_steps(run)
    assert steps == list(range(1, len(steps) + 1))
    # Logged, then saved: the checkpoint is of the last logged step or the one before it.
    assert max(steps, default=0) - 1 <= state["step"] <= max(steps, default=0)
    if not moment.startswith("random"):
        assert state["step"] == 1  # the stalled save was step 2's
        # The interrupted write is there, hidden beside the checkpoint it did not replace.
        assert [p.name[: len(".latest.pt.")] for p in temporaries(run)] == [".latest.pt."]

    target = state["step"] + 2
    resume_to(run, target)
    assert temporaries(run) == [], "a resume clears what a killed writer left"
    assert_same_training_state(load_checkpoint(latest(run)), reference(target))


# ==================================================================== 2. SIGTERM and SIGINT
@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_a_stop_signal_saves_the_step_reached_and_the_run_resumes(tmp_path, signal_number):
    run = tmp_path / "run"
    config = write_config(tmp_path / "tiny.toml", train_steps=100_000, checkpoint_every=100_000)
    process = start_fpa("train", "--config", config, "--out", run)
    wait_until(lambda: len(logged_steps(run)) >= 2, process, "two steps")
    process.send_signal(signal_number)
    _, stderr = process.communicate(timeout=PATIENCE)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    step = load_checkpoint(latest(run))["step"]
    assert step == max(logged_steps(run)) >= 2  # the step reached, not an older one
    assert f"stopped at step {step}; checkpoint saved" in stderr
    assert f"fpa train --out {run} --resume" in stderr
    resume_to(run, step + 2)


# ========================================================================= 3. a full disk
def mount_tmpfs(folder: Path, size: str) -> None:
    """Mount a tmpfs of ``size`` on ``folder``, or skip (not root, not Linux, not allowed)."""
    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root on Linux")
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


def test_a_disk_that_fills_up_stops_the_run_with_one_line_and_a_good_checkpoint(tmp_path):
    disk = tmp_path / "disk"
    mount_tmpfs(disk, "9m")  # a checkpoint of the tiny run is 0.6 MB at step 0, then 1.7 MB
    try:
        run = disk / "run"
        config = write_config(tmp_path / "tiny.toml", train_steps=1000, checkpoint_every=1)
        result = invoke("train", "--config", config, "--out", run)
        line = final_error_line(result, f"cannot write {run}", "No space left on device")
        assert "Errno" not in line
        state = load_checkpoint(latest(run))
        assert state["step"] <= max(logged_steps(run), default=0)
        assert temporaries(run) == []
        for periodic in (run / "checkpoints").glob("step_*.pt"):
            periodic.unlink()  # make room, as a user would
        resume_to(run, state["step"] + 1)
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def no_space() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class HalfWriter:
    """A file whose writes stop with ENOSPC after half of the first one."""

    def __init__(self, file):
        self.file = file

    def write(self, data):
        self.file.write(data[: len(data) // 2])
        raise no_space()

    def __getattr__(self, name):
        return getattr(self.file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()


@pytest.fixture
def full_disk_at(monkeypatch):
    """``arm(n, where)``: the ``n``-th atomic write of a ``latest.pt`` fails with ENOSPC at
    ``where``: making the temporary file, writing it (half of it), its fsync, or the rename.
    Returns a dict whose ``before`` is what ``latest.pt`` held at that moment; ``disarm()``
    lets every later write through."""
    seen: dict = {"writes": 0, "nth": None, "armed": False, "before": None}
    original = fpa.files.atomic_write

    def atomic_write(path, write):
        path = Path(path)
        if path.name != "latest.pt":
            return original(path, write)
        seen["writes"] += 1
        if seen["writes"] != seen["nth"]:
            return original(path, write)
        seen["before"] = path.read_bytes() if path.is_file() else None
        seen["armed"] = True
        try:
            return original(path, write)
        finally:
            seen["armed"] = False

    def failing(real, where):
        def call(*args, **kwargs):
            if not seen["armed"]:
                return real(*args, **kwargs)
            if where == "write":
                return HalfWriter(real(*args, **kwargs))
            raise no_space()

        return call

    def arm(nth: int, where: str) -> dict:
        seen["nth"] = nth
        monkeypatch.setattr(fpa.files, "atomic_write", atomic_write)
        module, name = {
            "mkstemp": (tempfile, "mkstemp"),
            "write": (os, "fdopen"),
            "fsync": (os, "fsync"),
            "rename": (os, "replace"),
        }[where]
        monkeypatch.setattr(module, name, failing(getattr(module, name), where))
        return seen

    arm.disarm = lambda: seen.update(nth=None)  # type: ignore[attr-defined]
    return arm


@pytest.mark.parametrize("where", ["mkstemp", "write", "fsync", "rename"])
def test_a_full_disk_at_a_checkpoint_keeps_the_previous_one_byte_for_byte(
    tmp_path, full_disk_at, where
):
    run = tmp_path / "run"
    config = write_config(tmp_path / "tiny.toml", train_steps=6)  # checkpoints every 2 steps
    seen = full_disk_at(4, where)  # the start, step 0, step 2, then step 4's save fails
    result = invoke("train", "--config", config, "--out", run)
    line = final_error_line(result, f"cannot write {latest(run)}: No space left on device")
    assert "Errno" not in line
    assert seen["before"] is not None and latest(run).read_bytes() == seen["before"]
    assert load_checkpoint(latest(run))["step"] == 2
    assert temporaries(run) == []
    full_disk_at.disarm()
    resume_to(run, 6)


def test_a_full_disk_during_an_overwrite_leaves_the_previous_run_intact(tmp_path, full_disk_at):
    run = tmp_path / "run"
    train(tiny(train_steps=2), out=run, progress=False)
    before = snapshot(run)
    config = write_config(tmp_path / "tiny.toml", seed=7)
    full_disk_at(1, "write")  # the new run's first checkpoint, written in a hidden folder
    result = invoke("train", "--config", config, "--out", run, "--overwrite")
    one_error_line(result, "No space left on device")
    assert snapshot(run) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "tiny.toml"]


# ================================================================ 4. one writer per run
def test_two_trainings_started_together_on_one_empty_folder(tmp_path):
    # 30 steps (some seconds): the second process reaches the lock while the first trains.
    out, config = tmp_path / "run", write_config(tmp_path / "tiny.toml", train_steps=30)
    processes = [start_fpa("train", "--config", config, "--out", out) for _ in range(2)]
    outcomes = [(p, *p.communicate(timeout=PATIENCE)) for p in processes]
    codes = sorted(p.returncode for p, _, _ in outcomes)
    assert codes == [0, 2], [(p.returncode, err[-1000:]) for p, _, err in outcomes]
    (winner,) = [p for p, _, _ in outcomes if p.returncode == 0]
    (refused,) = [err for p, _, err in outcomes if p.returncode == 2]
    (line,) = refused.strip().splitlines()
    assert line.startswith("error: ") and "in use" in line and f"PID {winner.pid}" in line
    assert logged_steps(out) == list(range(1, 31))  # each step once: one writer
    assert load_checkpoint(latest(out))["step"] == 30


@pytest.fixture(scope="class")
def busy_run(tmp_path_factory):
    """A run being trained by another process, in a folder named like an ablation cell."""
    parent = tmp_path_factory.mktemp("busy")
    run = parent / "rule-delta"
    config = write_config(parent / "tiny.toml", train_steps=100_000, checkpoint_every=100_000)
    process = start_fpa("train", "--config", config, "--out", run)
    wait_until(lambda: logged_steps(run), process, "the first step")
    yield run, process
    process.terminate()
    process.communicate(timeout=PATIENCE)
    assert process.returncode == 130


class TestCommandsThatWriteARunBeingTrained:
    def test_import_fpainter_overwrite_is_refused_naming_the_trainer(self, tmp_path, busy_run):
        run, process = busy_run
        authors = tmp_path / "model_1.pt"
        authors_checkpoint(authors, Spec("lstm_delta"))
        config_before = (run / "config.toml").read_bytes()
        result = invoke(
            "import-fpainter", authors, "--model-type", "lstm_delta", "--out", run, "--overwrite"
        )
        one_error_line(result, "in use", f"PID {process.pid}")
        assert (run / "config.toml").read_bytes() == config_before
        assert "imported_from" not in load_checkpoint(latest(run))
        assert process.poll() is None  # and the training goes on

    def test_ablate_into_a_cell_being_trained_is_refused_naming_the_trainer(self, busy_run):
        run, process = busy_run
        config_before = (run / "config.toml").read_bytes()
        result = invoke(
            "ablate",
            "--config",
            run.parent / "tiny.toml",
            "--rules",
            "delta",
            "--train-steps",
            "2",
            "--eval-n",
            "100",
            "--out",
            run.parent,
            "--quiet",
        )
        assert result.exit_code == 2, result.output
        assert f"PID {process.pid}" in result.output.strip().splitlines()[-1]
        assert (run / "config.toml").read_bytes() == config_before
        assert not (run / "ablation.json").exists()
        assert process.poll() is None


# ======================================================= 5. files that would run code
class Payload:
    """Unpickled by plain pickle, this touches ``marker``: harmless, and easy to detect."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("good") / "run"
    train(tiny(train_steps=2), out=run, progress=False)
    return run


def evil_checkpoint(path: Path, good: Path, marker: Path, *, form: str = "zip") -> Path:
    """A real fpa checkpoint with a payload beside its tensors."""
    content = {**load_checkpoint(good), "payload": Payload(marker)}
    if form == "pickle":
        path.write_bytes(pickle.dumps(content))
    else:
        torch.save(content, path, _use_new_zipfile_serialization=form == "zip")
    return path


def evil_run(folder: Path, good_run: Path, marker: Path) -> Path:
    shutil.copytree(good_run, folder)
    evil_checkpoint(latest(folder), latest(good_run), marker)
    return folder


def evil_latents(path: Path, marker: Path) -> Path:
    if path.suffix == ".npy":
        array = np.empty(2, dtype=object)
        array[:] = [Payload(marker), Payload(marker)]
        np.save(path, array, allow_pickle=True)
    else:
        torch.save({"latents": torch.zeros(2, 8), "payload": Payload(marker)}, path)
    return path


# Every command that reads a file the user names, with that file made evil. Each builds its
# arguments from (tmp_path, good run, marker) and expects these words in its error line.
def _file(t, g, m):
    return evil_checkpoint(t / "evil.pt", latest(g), m)


def _legacy(t, g, m):
    return evil_checkpoint(t / "evil.pt", latest(g), m, form="legacy")


def _pickle(t, g, m):
    return evil_checkpoint(t / "evil.pt", latest(g), m, form="pickle")


def _run(t, g, m):
    return evil_run(t / "evil-run", g, m)


def _authors(t, g, m):
    path = t / "model_1.pt"
    authors_checkpoint(path, Spec("lstm_delta"), extra={"payload": Payload(m)})
    return path


def _cell(t, g, m):
    evil_run(t / "grid" / "rule-delta", g, m)
    write_config(t / "tiny.toml", train_steps=4)
    return t / "grid"


REFUSED = "refuses such files because loading them could run code"
ENTRY_POINTS = {
    "sample FILE": (lambda t, g, m: ["sample", _file(t, g, m), "--out", t / "s.png"], REFUSED),
    "sample legacy-format FILE": (
        lambda t, g, m: ["sample", _legacy(t, g, m), "--out", t / "s.png"],
        REFUSED,
    ),
    "sample plain-pickle FILE": (
        lambda t, g, m: ["sample", _pickle(t, g, m), "--out", t / "s.png"],
        REFUSED,
    ),
    "sample RUN": (lambda t, g, m: ["sample", _run(t, g, m), "--out", t / "s.png"], REFUSED),
    "paint RUN": (lambda t, g, m: ["paint", _run(t, g, m), "--out", t / "p.png"], REFUSED),
    "interpolate RUN": (
        lambda t, g, m: ["interpolate", _run(t, g, m), "--out", t / "i.gif"],
        REFUSED,
    ),
    "evaluate RUN": (lambda t, g, m: ["evaluate", _run(t, g, m), "--n", "100"], REFUSED),
    "train --resume": (lambda t, g, m: ["train", "--out", _run(t, g, m), "--resume"], REFUSED),
    "train --resume --dry-run": (
        lambda t, g, m: ["train", "--out", _run(t, g, m), "--resume", "--dry-run"],
        REFUSED,
    ),
    "train --init-from": (
        lambda t, g, m: ["train", "--init-from", _file(t, g, m), "--out", t / "new"],
        REFUSED,
    ),
    "import-fpainter": (
        lambda t, g, m: [
            "import-fpainter",
            _authors(t, g, m),
            "--model-type",
            "lstm_delta",
            "--out",
            t / "new",
        ],
        "refuses anything that would run code",
    ),
    "sample --latents .pt": (
        lambda t, g, m: ["sample", g, "--latents", evil_latents(t / "z.pt", m), "--out", t / "s"],
        REFUSED,
    ),
    "sample --latents .npy": (
        lambda t, g, m: ["sample", g, "--latents", evil_latents(t / "z.npy", m), "--out", t / "s"],
        "allow_pickle=False",
    ),
    "paint --latents": (
        lambda t, g, m: ["paint", g, "--latents", evil_latents(t / "z.pt", m), "--out", t / "p"],
        REFUSED,
    ),
    "interpolate --latents": (
        lambda t, g, m: [
            "interpolate",
            g,
            "--latents",
            evil_latents(t / "z.pt", m),
            "--out",
            t / "i.gif",
        ],
        REFUSED,
    ),
    "evaluate --inception-weights": (
        lambda t, g, m: [
            "evaluate",
            g,
            "--features",
            "inception",
            "--inception-weights",
            _file(t, g, m),
        ],
        REFUSED,
    ),
    "ablate (a cell to resume)": (
        lambda t, g, m: [
            "ablate",
            "--config",
            _cell(t, g, m) / ".." / "tiny.toml",
            "--rules",
            "delta",
            "--eval-n",
            "100",
            "--out",
            t / "grid",
            "--quiet",
        ],
        REFUSED,
    ),
}


def test_the_payload_runs_code_when_unpickled_plainly(tmp_path, good_run):
    """The control: without fpa's guard the file does run code, so the cases below mean
    something."""
    marker = tmp_path / "ran"
    torch.load(_file(tmp_path, good_run, marker), weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_a_file_that_would_run_code_is_refused_by_every_command(
    tmp_path, good_run, monkeypatch, entry
):
    monkeypatch.setenv("FPA_CACHE_DIR", str(tmp_path / "cache"))
    marker = tmp_path / "payload-ran"
    build, words = ENTRY_POINTS[entry]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = invoke(*build(tmp_path, good_run, marker))
    # A warning would be printed beside the verdict (PyTorch's about pickle protocols was).
    assert [str(w.message) for w in caught if issubclass(w.category, UserWarning)] == []
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    if entry.startswith("ablate"):  # ablate says which cell it is at, then fails
        assert lines.pop(0) == "[1/1] rule-delta: training", result.output
    (line,) = lines
    assert line.startswith("error: ") and words in line, line
    assert "weights_only=False" not in line and "can still be loaded" not in line
    assert not marker.exists()


def test_fpa_load_refuses_a_file_that_would_run_code(tmp_path, good_run):
    marker = tmp_path / "payload-ran"
    with pytest.raises(CheckpointError, match=REFUSED):
        fpa.load(_file(tmp_path, good_run, marker))
    with pytest.raises(CheckpointError, match=REFUSED):
        fpa.load(_run(tmp_path, good_run, marker))
    assert not marker.exists()


def test_feature_weights_that_would_run_code_are_refused(tmp_path):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "features.pt"
    torch.save({"state_dict": {}, "width": 8, "payload": Payload(marker)}, path)
    with pytest.raises(fpa.ConfigError, match="is not a feature-weights file"):
        read_weights(path)
    assert not marker.exists()


def test_a_real_statistics_cache_that_would_run_code_is_rebuilt_not_loaded(
    tmp_path, good_run, monkeypatch
):
    monkeypatch.setenv("FPA_CACHE_DIR", str(tmp_path / "cache"))
    first = invoke("evaluate", good_run, "--n", "100", "--json")
    assert first.exit_code == 0, first.output
    (cache,) = (tmp_path / "cache" / "real-stats").iterdir()
    marker = tmp_path / "payload-ran"
    torch.save({"key": {}, "features": torch.zeros(1), "payload": Payload(marker)}, cache)
    again = invoke("evaluate", good_run, "--n", "100", "--json")
    assert again.exit_code == 0, again.output
    assert "cache file was unreadable: UnpicklingError" in again.output
    assert not marker.exists()
    assert torch.load(cache, weights_only=True)["features"].shape[0] == 100  # rewritten, good


def test_a_data_cache_that_would_run_code_is_rebuilt_not_loaded(tmp_path):
    marker = tmp_path / "payload-ran"
    array = np.empty(1, dtype=object)
    array[0] = Payload(marker)
    np.savez(tmp_path / "emoji.npz", images=array, names=array)
    assert load_arrays(tmp_path / "emoji.npz") is None  # unusable: the caller renders again
    assert not marker.exists()


# ====================================================================== 6. NaN losses
@pytest.fixture
def poisoned(monkeypatch):
    """``poison(part, value, at_step, times)``: the real D or G loss of the step after
    ``at_step`` becomes ``value`` (so the weights really go bad), ``times`` times."""

    def poison(part: str, value: float, *, at_step: int, times: int) -> None:
        state = {"armed": False, "left": times}
        method = "discriminator_step" if part == "D" else "generator_step"
        original_step = getattr(Trainer, method)

        def step(self):
            state["armed"] = self.state.step == at_step and state["left"] > 0
            try:
                return original_step(self)
            finally:
                if state["armed"]:
                    state["left"] -= 1
                state["armed"] = False

        monkeypatch.setattr(Trainer, method, step)
        if part == "D":
            original_forward = DiscriminatorLoss.forward

            def forward(self, real, fake, *, regularize):
                loss, parts = original_forward(self, real, fake, regularize=regularize)
                return (loss * value if state["armed"] else loss), parts

            monkeypatch.setattr(DiscriminatorLoss, "forward", forward)
        else:
            import fpa.training.loop as loop

            original_hinge = loop.hinge_generator

            def hinge(logits):
                loss = original_hinge(logits)
                return loss * value if state["armed"] else loss

            monkeypatch.setattr(loop, "hinge_generator", hinge)

    return poison


@pytest.mark.parametrize(
    ("part", "value"), [("G", float("nan")), ("D", float("inf"))], ids=["G-nan", "D-inf"]
)
def test_a_bad_loss_once_reloads_the_last_good_checkpoint_and_finishes(
    tmp_path, poisoned, part, value
):
    run = tmp_path / "run"
    config = write_config(tmp_path / "tiny.toml", train_steps=6)
    poisoned(part, value, at_step=3, times=1)  # step 4 goes bad; step 2's checkpoint is good
    result = invoke("train", "--config", config, "--out", run)
    assert result.exit_code == 0, result.output
    events = [r for r in records(run) if r.get("event") == "nan_restart"]
    assert events == [{"step": 2, "event": "nan_restart", "count": 1}]
    assert logged_steps(run) == [1, 2, 3, 4, 5, 6]
    state = load_checkpoint(latest(run))
    assert state["step"] == 6 and state["nan_restarts"] == 1
    for name in ("generator", "ema_generator", "discriminator"):
        assert all(torch.isfinite(t).all() for t in state[name].values()), name


def test_a_loss_that_stays_nan_stops_with_one_line_and_the_last_good_checkpoint(tmp_path, poisoned):
    run = tmp_path / "run"
    config = write_config(tmp_path / "tiny.toml", train_steps=6, max_nan_restarts=2)
    poisoned("G", float("nan"), at_step=2, times=1000)
    result = invoke("train", "--config", config, "--out", run)
    line = final_error_line(result, "NaN/inf 3 times", f"last good checkpoint is {latest(run)}")
    assert latest(run).read_bytes() == (run / "checkpoints" / "step_000002.pt").read_bytes()
    assert [r["count"] for r in records(run) if r.get("event") == "nan_restart"] == [1, 2]
    assert logged_steps(run) == [1, 2], line


# ==================================================== 7. exact resume, option by option
EXACT_CASES = {
    "grad_accum=2": {"grad_accum": 2},
    "augment=on": {"augment": "on"},
    "gp every 2": {"regularizer": "gp", "reg_every": 2},
    "r1 every 2": {"regularizer": "r1", "reg_every": 2},
    "unet refiner": {"refiner": "unet", "refiner_options": {"width": 8}},
    "updates_per_step=2": {"updates_per_step": 2},
    "per_row_rate": {"per_row_rate": True},
    "transformer with dropout": {
        "painter": "transformer",
        "painter_options": {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "dropout": 0.1},
    },
    "eval every 5": {"eval_every": 5, "eval_n": 100, "eval_features": "digits"},
}


@pytest.mark.parametrize("case", list(EXACT_CASES))
def test_five_steps_and_a_resume_of_five_are_ten_steps_bit_for_bit(tmp_path, monkeypatch, case):
    monkeypatch.setenv("FPA_CACHE_DIR", str(tmp_path / "cache"))
    options = EXACT_CASES[case]
    train(tiny(train_steps=10, **options), out=tmp_path / "straight", progress=False)
    train(tiny(train_steps=5, **options), out=tmp_path / "split", progress=False)
    train(out=tmp_path / "split", resume=True, train_steps=10, progress=False)
    straight = load_checkpoint(latest(tmp_path / "straight"))
    split = load_checkpoint(latest(tmp_path / "split"))
    assert straight["step"] == split["step"] == 10
    assert_same_training_state(straight, split)

    def logged(run):
        drop = {"elapsed_s", "images_per_s"}
        return [{k: v for k, v in r.items() if k not in drop} for r in records(tmp_path / run)]

    assert logged("straight") == logged("split")
    if "eval_every" in options:
        best = [
            load_checkpoint(tmp_path / r / "checkpoints" / "best.pt") for r in ("straight", "split")
        ]
        assert_same_training_state(*best)
