"""The command line: commands work, and bad input is one line with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image
from typer.testing import CliRunner

from fpa.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_plugins_json_lists_the_built_ins():
    result = invoke("plugins", "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    names = {(row["kind"], row["name"]) for row in report["components"]}
    assert {("rules", "delta"), ("rules", "hebb"), ("rules", "oja")} <= names
    assert {("painters", "lstm"), ("painters", "transformer")} <= names
    delta = next(row for row in report["components"] if row["name"] == "delta")
    assert delta["distribution"] == "fpa" and delta["description"]


def test_plugins_table_is_readable():
    result = invoke("plugins")
    assert result.exit_code == 0
    assert "delta" in result.stdout and "transformer" in result.stdout


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
    result = invoke(*args, "--out", str(out))
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("error:")
    assert out.read_bytes() == b"a good file from before"


def test_missing_output_folder_is_a_clean_error(tmp_path):
    result = invoke("preview", "--out", str(tmp_path / "no" / "such" / "grid.png"))
    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert "Traceback" not in result.output


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
