"""Issue 34: every way in is bounded and every read tolerant.

Each case here used to end in a traceback, a hang, raw markup or a misleading line. Each now
is one ``error:`` line with exit code 2 (or, for a signal, ``interrupted`` and 130), and the
files it read are left byte for byte as they were.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import fpa.training
from error_lines import one_error_line as error_line
from fpa.cli import app
from fpa.models.card import parse_card, plain, read_card, render_card
from fpa.training import train
from tiny_runs import tiny

runner = CliRunner()
HUGE = 10**12


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_error_line(result, *fragments: str) -> str:
    """The single ``error:`` line of a failed command, with no traceback anywhere."""
    assert "Traceback" not in result.output, result.output
    return error_line(result, *fragments)


def snapshot(folder) -> dict[str, bytes]:
    """Every file under ``folder`` (its lock file aside: it names the last holder)."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != ".lock"
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run") / "run"
    train(tiny(train_steps=2), out=folder, progress=False)
    return folder


@pytest.fixture(scope="module")
def model(run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("model") / "model"
    assert invoke("export", run, folder, "--n", 0).exit_code == 0
    return folder


def copied(source, tmp_path, name="copy"):
    target = tmp_path / name
    (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
    return target


def edited_checkpoint(run, tmp_path, edit, name="edited.pt"):
    state = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    edit(state)
    path = tmp_path / name
    torch.save(state, path)
    return path


def run_with_checkpoint(run, tmp_path, edit):
    """A copy of ``run`` whose latest checkpoint is edited."""
    folder = copied(run, tmp_path, "edited-run")
    edited = edited_checkpoint(run, tmp_path, edit)
    (folder / "checkpoints" / "latest.pt").write_bytes(edited.read_bytes())
    return folder


# ---------------------------------------------------------------- sizes that reach allocation
@pytest.mark.parametrize(
    ("flag", "value", "named"),
    [("--paint-steps", 10**8, "paint_steps 100,000,000"), ("--latent-dim", 10**9, "latent_dim")],
)
def test_train_refuses_a_generator_that_cannot_fit(flag, value, named, tmp_path):
    result = invoke("train", flag, value, "--dry-run", "--out", tmp_path / "run")
    one_error_line(result, named, "GiB")
    assert not (tmp_path / "run").exists()


def test_a_checkpoint_whose_generator_cannot_fit_is_one_line(run, tmp_path):
    path = edited_checkpoint(run, tmp_path, lambda s: s["generator_config"].update(latent_dim=HUGE))
    before = path.read_bytes()
    one_error_line(
        invoke("sample", path, "--out", tmp_path / "g.png"),
        str(path),
        "generator_config",
        "latent_dim 1,000,000,000,000",
    )
    assert path.read_bytes() == before
    assert not (tmp_path / "g.png").exists()


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda g: g.update(latent_dim=HUGE), "latent_dim 1,000,000,000,000"),
        (lambda g: g.update(image_size=[10**6, 10**6]), "image_size 1,000,000×1,000,000"),
        (lambda g: g.update(paint_steps=10**11), "paint_steps 100,000,000,000"),
        (lambda g: g["painter_options"].update(hidden_size=10**9), "hidden_size 1,000,000,000"),
    ],
)
def test_a_model_folder_whose_generator_cannot_fit_is_one_line(model, tmp_path, edit, named):
    folder = copied(model, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    edit(config["generator"])
    (folder / "config.json").write_text(json.dumps(config))
    before = snapshot(folder)
    result = invoke("sample", folder, "--out", tmp_path / "g.png")
    one_error_line(result, str(folder / "config.json"), named)
    assert snapshot(folder) == before


def test_a_config_json_nested_too_deeply_is_one_line(model, tmp_path):
    folder = copied(model, tmp_path)
    (folder / "config.json").write_text("[" * 100_000)
    result = invoke("sample", folder, "--out", tmp_path / "g.png")
    one_error_line(result, str(folder / "config.json"), "nested too deeply")


@pytest.mark.parametrize(
    ("options", "fragment"),
    [(["--steps", 10**8], "100,000,000 steps"), (["--image-size", 100_000], "100000×100000")],
)
def test_decompose_refuses_a_figure_or_trace_too_large_before_reading(tmp_path, options, fragment):
    out = tmp_path / "out"
    result = invoke("decompose", "mnist:0", *options, "--out", out)
    one_error_line(result, fragment)
    assert not out.exists()


@pytest.mark.parametrize("command", ["evaluate", "export"])
def test_evaluate_and_export_refuse_a_huge_n_before_loading(run, tmp_path, command):
    target = [tmp_path / "model"] if command == "export" else []
    result = invoke(command, run, *target, "--n", 10**8)
    one_error_line(result, "--n must be at most 1,000,000", "100,000,000")
    assert not (tmp_path / "model").exists()


def test_ablate_checks_every_cell_before_the_first_trains(tmp_path):
    out = tmp_path / "ablation"
    args = ["ablate", "--out", out, "--train-steps", 1, "--eval-n", 100]
    result = invoke(*args, "--vary", "paint_steps=16,100000000")
    one_error_line(result, "ablation cell", "paint_steps 100,000,000")
    assert not out.exists()


def test_ablate_checks_its_evaluation_options_before_the_first_cell(tmp_path):
    out = tmp_path / "ablation"
    result = invoke("ablate", "--out", out, "--vary", "rule=delta,hebb", "--eval-n", 50)
    one_error_line(result, "--eval-n must be at least 100")
    assert not out.exists()


def test_a_huge_batch_size_is_echoed_exactly():
    result = invoke("train", "--batch-size", 2**63 - 1, "--dry-run")
    one_error_line(result, f"a batch of {2**63 - 1} real")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [('lr = "abc"\n', "lr must be float"), ("format_version = 999\n", "format_version 999")],
)
def test_a_config_file_with_a_bad_field_names_the_file(tmp_path, text, fragment):
    path = tmp_path / "run.toml"
    path.write_text(text)
    one_error_line(invoke("train", "--config", path, "--dry-run"), f"config file {path}", fragment)
    assert path.read_text() == text


# ---------------------------------------------------------------- latents files
def write_npy_header(path, shape):
    with path.open("wb") as file:
        header = {"descr": "<f4", "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_1_0(file, header)
        file.write(b"\0" * 64)


@pytest.mark.parametrize("command", ["sample", "paint"])
def test_empty_latents_are_one_line(run, tmp_path, command):
    path = tmp_path / "empty.npy"
    np.save(path, np.zeros((0, 8), np.float32))
    result = invoke(command, run, "--latents", path, "--out", tmp_path / "g.png")
    one_error_line(result, str(path), "holds no latents")


def test_latents_whose_header_claims_too_much_are_one_line(run, tmp_path):
    path = tmp_path / "huge.npy"
    write_npy_header(path, (HUGE, 8))
    before = path.read_bytes()
    result = invoke("sample", run, "--latents", path, "--out", tmp_path / "g.png")
    one_error_line(result, str(path), "(1000000000000, 8)")
    assert path.read_bytes() == before


def test_a_truncated_npy_is_one_line(run, tmp_path):
    path = tmp_path / "short.npy"
    write_npy_header(path, (100, 8))
    result = invoke("sample", run, "--latents", path, "--out", tmp_path / "g.png")
    one_error_line(result, str(path), "truncated")


def test_complex_latents_are_refused_without_a_warning(run, tmp_path):
    path = tmp_path / "complex.npy"
    np.save(path, np.ones((2, 8), np.complex64))
    result = invoke("sample", run, "--latents", path, "--out", tmp_path / "g.png")
    one_error_line(result, str(path), "complex64", "real numbers")


# ---------------------------------------------------------------- metrics.jsonl
@pytest.mark.parametrize("line", [b"\xff\xfe not utf-8\n", b"[1, 2]\n", b'{"step": "x"}\n'])
def test_report_skips_and_counts_bad_log_lines(run, tmp_path, line):
    folder = copied(run, tmp_path)
    with (folder / "metrics.jsonl").open("ab") as file:
        file.write(line)
    result = invoke("report", folder, "--out", tmp_path / "r.html", "--no-animation")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert "skipped 1 unreadable line" in result.output
    assert "1 unreadable line(s) of metrics.jsonl" in (tmp_path / "r.html").read_text()


@pytest.mark.parametrize(
    ("text", "fragment"), [(b"[1, 2]", "not an ablation table"), (b"\xff", "JSON")]
)
def test_report_of_an_ablation_with_a_bad_table_is_one_line(tmp_path, text, fragment):
    folder = tmp_path / "ablation"
    folder.mkdir()
    (folder / "results.json").write_bytes(text)
    result = invoke("report", folder, "--out", tmp_path / "r.html")
    one_error_line(result, str(folder / "results.json"), fragment)
    assert (folder / "results.json").read_bytes() == text


def test_resume_skips_a_log_line_whose_step_is_not_a_number(run, tmp_path):
    folder = copied(run, tmp_path)
    with (folder / "metrics.jsonl").open("ab") as file:
        file.write(b'{"step": "x"}\n')
    result = invoke("train", "--out", folder, "--resume", "--train-steps", 3)
    assert result.exit_code == 0, result.output
    steps = [json.loads(line)["step"] for line in (folder / "metrics.jsonl").open()]
    assert steps == [1, 2, 3]


# ---------------------------------------------------------------- checkpoints that do not fit
@pytest.mark.parametrize(
    ("edit", "fragments"),
    [
        (lambda s: s.update(torch_rng=s["torch_rng"].float()), ["'torch_rng'"]),
        (lambda s: s.update(data={}), ["'data' lacks 'epoch'"]),
        (lambda s: s.update(fixed_latents=torch.zeros(3)), ["'fixed_latents'", "(3,)"]),
    ],
)
def test_resume_of_a_checkpoint_that_does_not_fit_names_file_and_field(
    run, tmp_path, edit, fragments
):
    folder = run_with_checkpoint(run, tmp_path, edit)
    before = snapshot(folder)
    result = invoke("train", "--out", folder, "--resume", "--train-steps", 3)
    one_error_line(result, str(folder / "checkpoints" / "latest.pt"), *fragments)
    assert snapshot(folder) == before


def misshape_ema(state):
    weights = state["ema_generator"]
    name = next(key for key, value in weights.items() if value.dim() == 2)
    weights[name] = weights[name][:1]


def test_init_from_a_misshapen_ema_generator_is_one_line(run, tmp_path):
    path = edited_checkpoint(run, tmp_path, misshape_ema)
    before = path.read_bytes()
    result = invoke(
        "train", "--out", tmp_path / "new", "--init-from", path, "--reset-discriminator",
        "--train-steps", 1, "--batch-size", 4, "--set", "sample_count=4",
    )  # fmt: skip
    one_error_line(result, f"--init-from {path}", "'ema_generator'", "size mismatch")
    assert path.read_bytes() == before
    assert not (tmp_path / "new").exists()


def test_a_newer_format_version_says_which_versions(run, tmp_path):
    path = edited_checkpoint(run, tmp_path, lambda s: s.update(format_version=999))
    line = one_error_line(invoke("sample", path), str(path), "format_version 999", "reads up to")
    assert "written by a newer fpa" not in line


# ---------------------------------------------------------------- user text
def test_a_run_folder_named_like_markup_trains_and_reports(tmp_path):
    out = tmp_path / "runs" / "[" / "]"
    result = invoke(
        "train", "--out", out, "--train-steps", 1, "--batch-size", 4, "--image-size", 8,
        "--latent-dim", 4, "--paint-steps", 2, "--set", "sample_count=4", "--device", "cpu",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert "done: 1 steps" in result.output
    assert (out / "checkpoints" / "latest.pt").is_file()


def test_the_model_card_escapes_a_name_with_html(run, tmp_path):
    name = "<script>alert(1)</script> [link](x) *bold*"
    assert invoke("export", run, tmp_path / "m", "--n", 0, "--name", name).exit_code == 0
    text = (tmp_path / "m" / "README.md").read_text()
    assert "<" not in text and ">" not in text
    assert plain(name) in text
    assert read_card(tmp_path / "m" / "README.md").name == name


def test_the_model_card_of_a_data_folder_named_with_html_shows_it_as_text(model):
    data = "/data/<img src=x onerror=alert(1)>`"
    card = replace(
        read_card(model / "README.md"),
        data=data,
        paints=f"images like those of {data}",
        notes=[f"fpa does not know the licence of the training data {data!r}"],
    )
    text = render_card(card)
    assert "<" not in text and ">" not in text
    assert f"- data: {plain(data)}," in text
    assert parse_card(text, where="README.md") == card


def test_the_licence_must_be_a_hub_identifier(run, tmp_path):
    result = invoke("export", run, tmp_path / "m", "--n", 0, "--license", "<b>mine</b>")
    one_error_line(result, "--license must be a Hub licence identifier", "'<b>mine</b>'")
    assert not (tmp_path / "m").exists()


def test_a_tensorboard_folder_it_cannot_write_is_one_warning_without_a_thread_traceback(
    run, tmp_path, capfd
):
    pytest.importorskip("tensorboard")
    kernel = Path("/sys/kernel")  # sysfs: no process, root included, can make a file there
    if not kernel.is_dir():
        pytest.skip("needs /sys/kernel, a folder no process can write files into")
    folder = copied(run, tmp_path)
    (folder / "logs").mkdir()
    (folder / "logs" / "tensorboard").symlink_to(kernel)
    args = ["train", "--out", folder, "--resume", "--train-steps", 3, "--log", "tensorboard"]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "cannot write" in warnings[0], result.output
    assert "Traceback" not in result.output + capfd.readouterr().err


# ---------------------------------------------------------------- start-up
def test_a_lock_taken_in_a_start_race_says_so(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    handle = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held, its PID not written yet
        result = invoke("train", "--out", folder, "--train-steps", 1)
    finally:
        os.close(handle)
    line = one_error_line(result, "in use", "its PID is not written yet")
    assert "unknown" not in line


def test_a_new_conditional_run_given_classes_is_told_where_they_come_from(tmp_path):
    result = invoke(
        "train", "--out", tmp_path / "run", "--conditional", "--set", 'classes=["zzz"]',
        "--train-steps", 1,
    )  # fmt: skip
    line = one_error_line(result, "takes its classes from its data")
    assert "was trained on" not in line
    assert not (tmp_path / "run").exists()


def sigterm_at_start_up(monkeypatch):
    """SIGTERM to this process just as the run checks its size (under the run's lock)."""
    checked = fpa.training.check_training_memory

    def check(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        return checked(*args, **kwargs)

    monkeypatch.setattr(fpa.training, "check_training_memory", check)


def test_sigterm_during_start_up_of_a_new_run_exits_130_and_leaves_no_folder(tmp_path, monkeypatch):
    handler = signal.getsignal(signal.SIGTERM)
    sigterm_at_start_up(monkeypatch)
    out = tmp_path / "run"
    result = invoke("train", "--out", out, "--train-steps", 1, "--batch-size", 4)
    assert result.exit_code == 130, result.output
    assert result.output.strip().splitlines() == ["interrupted"]
    assert not out.exists()
    assert signal.getsignal(signal.SIGTERM) is handler  # the command's handler is undone


def test_sigterm_during_start_up_of_a_resume_leaves_the_run_as_it_was(run, tmp_path, monkeypatch):
    folder = copied(run, tmp_path)
    before = snapshot(folder)
    sigterm_at_start_up(monkeypatch)
    result = invoke("train", "--out", folder, "--resume", "--train-steps", 4)
    assert result.exit_code == 130, result.output
    assert result.output.strip().splitlines() == ["interrupted"]
    assert snapshot(folder) == before


# ---------------------------------------------------------------- noise
@pytest.mark.parametrize(
    ("pixels", "name"),
    [
        (np.zeros((1, 1), np.uint8), "one.png"),
        (np.zeros((8, 8), np.uint16), "deep.png"),
        (np.zeros((8, 8), bool), "bit.png"),
        (np.zeros((8, 8), np.float32), "float.tiff"),
    ],
)
def test_unusual_images_reach_torch_writable(tmp_path, pixels, name, monkeypatch):
    """PyTorch warns (once a process, so the output alone cannot show it) of an array it
    cannot write; what decompose and project read must be a writable copy."""
    from PIL import Image

    path = tmp_path / name
    Image.fromarray(pixels).save(path)
    writable, from_numpy = [], torch.from_numpy

    def checked(array):
        writable.append(array.flags.writeable)
        return from_numpy(array)

    monkeypatch.setattr(torch, "from_numpy", checked)
    result = invoke(
        "decompose", path, "--steps", 2, "--iterations", 2, "--image-size", 8,
        "--out", tmp_path / "out",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert writable and all(writable)
