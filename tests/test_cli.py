"""The command line: commands work, and bad input is one line with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image
from typer.testing import CliRunner

import fpa
from conftest import plugged_in
from fpa.cli import app
from fpa.plugins import KINDS
from rule_fixtures import ThirdPartyRules

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_plugins_json_lists_the_built_ins():
    result = invoke("plugins", "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    names = {(row["kind"], row["name"]) for row in report["components"]}
    assert {("rules", "delta"), ("rules", "hebb"), ("rules", "oja")} <= names
    assert {("painters", "lstm"), ("painters", "transformer"), ("painters", "mlp")} <= names
    delta = next(row for row in report["components"] if row["name"] == "delta")
    assert delta["distribution"] == "fpa" and delta["description"]


def test_plugins_table_is_readable():
    # A plugin registered at runtime is listed too, with that as its origin.
    with plugged_in(ThirdPartyRules(), name="test-rules"):
        result = runner.invoke(app, ["plugins"], env={"COLUMNS": "300"})  # no wrapped cells
        current = fpa.registry()
        expected = sorted(
            (kind, name, str(component.origin), component.description)
            for kind in KINDS
            for name in fpa.available(kind)
            for component in [current.components[kind][name]]
        )
    assert result.exit_code == 0, result.output
    components = result.stdout.split("plugins and their hooks")[0]
    cells = [[cell.strip() for cell in line.split("│")[1:-1]] for line in components.splitlines()]
    rows = sorted(tuple(row) for row in cells if len(row) == 4)
    assert rows == expected
    assert ("rules", "step-only-delta", "registered at runtime", "test rule") in rows


@pytest.mark.parametrize("command", ["plugins", "models"])
def test_plugins_and_models_keep_every_name_whole_in_80_columns(command):
    with plugged_in(ThirdPartyRules(), name="test-rules"):
        result = runner.invoke(app, [command], env={"COLUMNS": "80"})
        listed = runner.invoke(app, [command, "--json"]).stdout
    assert result.exit_code == 0, result.output
    assert all(len(line) <= 80 for line in result.stdout.splitlines()), result.stdout
    rows = json.loads(listed)
    rows = rows["components"] if command == "plugins" else rows
    words = set(result.stdout.replace("│", " ").split())
    for row in rows:
        assert row["name"] in words, (row["name"], result.stdout)
    if command == "plugins":
        assert {"step-only-delta", "runtime", "fpa_register_discriminators"} <= words
    else:
        assert {row["licence"] for row in rows} <= words
        assert {f"{row['parameters']:,}" for row in rows} <= words


def test_preview_paints_a_grid(tmp_path):
    out = tmp_path / "grid.png"
    result = invoke(
        "preview",
        "--rule",
        "oja",
        "--painter",
        "transformer",
        "--image-size",
        "8x12",
        "--channels",
        "3",
        "--paint-steps",
        "4",
        "--n",
        "2",
        "--columns",
        "4",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    with Image.open(out) as image:
        assert image.mode == "RGB"
        # 2 rows × 4 columns of 8×12 images with 2-pixel padding
        assert image.size == (4 * (12 + 2) + 2, 2 * (8 + 2) + 2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["preview", "--rule", "deltaa"], "did you mean 'delta'"),
        (["preview", "--painter", "gru"], "unknown painter 'gru'"),
        (["preview", "--n", "0"], "--n must be at least 1"),
        (["preview", "--image-size", "big"], "image size must look like"),
        (["preview", "--channels", "2"], "--channels must be 1, 3 or 4"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, args, message):
    out = tmp_path / "kept.png"
    out.write_bytes(b"a good file from before")
    result = invoke(*args, "--out", str(out), "--overwrite")  # kept all the same
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("error:")
    assert out.read_bytes() == b"a good file from before"


def test_missing_output_folder_is_a_clean_error(tmp_path):
    result = invoke("preview", "--out", str(tmp_path / "no" / "such" / "grid.png"))
    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_the_console_script_runs_as_a_module_with_clean_errors():
    done = subprocess.run(
        [sys.executable, "-m", "fpa", "preview", "--rule", "nope"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: unknown rule 'nope'")
    assert "Traceback" not in done.stderr
    debug = subprocess.run(
        [sys.executable, "-m", "fpa", "--debug", "preview", "--rule", "nope"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Traceback" in debug.stderr and "UnknownComponentError" in debug.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["trian"], "no such command 'trian'; did you mean 'train'?"),
        (["train", "--paint-steps", "four"], "invalid value for '--paint-steps'"),
        (["train", "--no-such-flag"], "no such option: --no-such-flag"),
        (["sample"], "missing argument 'run'"),
        (["--no-such-flag"], "no such option: --no-such-flag"),
    ],
)
def test_usage_errors_are_one_line_and_exit_code_2(args, message):
    result = invoke(*args)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and message in lines[0]


def test_help_still_works_and_no_arguments_show_it():
    for args in (["--help"], ["train", "--help"]):
        result = invoke(*args)
        assert result.exit_code == 0 and "Usage" in result.output, result.output
    bare = invoke()
    assert "Usage" in bare.output and "train" in bare.output
    assert not any(line.startswith("error:") for line in bare.output.splitlines())


@pytest.mark.parametrize("args", [["--help"], ["plugins", "--help"], ["train", "--help"]])
def test_help_shows_flags_without_a_value_type(args):
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    flags = [line for line in result.output.splitlines() if "--help" in line or "--debug" in line]
    assert flags and not any("<bool>" in line for line in flags), result.output
    assert "<bool>" not in result.output


def test_plugins_help_names_every_component_kind():
    result = runner.invoke(app, ["plugins", "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert all(kind in result.output for kind in KINDS), result.output


@pytest.mark.slow
def test_a_usage_error_from_the_console_script_is_one_line_on_stderr():
    done = subprocess.run(
        [sys.executable, "-m", "fpa", "trian"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "error: no such command 'trian'; did you mean 'train'? (see fpa --help)"
    ]


def test_embedded_library_errors_are_cut_to_one_line():
    from fpa.errors import error_summary

    advice = RuntimeError("Weights only load failed. This file can still be loaded\n\t(1) ...")
    assert "weights_only" not in error_summary(advice) and "\n" not in error_summary(advice)
    mismatch = RuntimeError(
        "Error(s) in loading state_dict for G:\n\tsize mismatch for head.weight: [3] vs [4].\n"
    )
    assert error_summary(mismatch) == (
        "Error(s) in loading state_dict for G: size mismatch for head.weight: [3] vs [4]."
    )
    assert error_summary(ValueError("")) == "ValueError"
