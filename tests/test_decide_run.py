"""One function decides a run (issue 33): every entry point trains the config it returns.

``fpa train --dry-run``, ``fpa ablate`` (each cell), ``fpa.train`` and the ``Trainer`` are fed
the same inputs (a preset or none, overrides, data whose colours or classes decide settings,
an ``--init-from`` run) and must arrive at one config; ``--dry-run --resume`` refuses what
``--resume`` refuses; the config file is read once.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import FrozenInstanceError
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import fpa.ablation.runner
import fpa.training.presets
from conftest import image_folder
from error_lines import one_error_line
from fpa.cli import app
from fpa.errors import ConfigError
from fpa.runs import RunDir
from fpa.runs.config import tomllib
from fpa.training import RunRequest, TrainConfig, Trainer, decide_run, prepare_run, train
from tiny_runs import TINY, tiny

runner = CliRunner()

# TINY, no evaluation (a digit run would score with its features), never a step trained.
INPUTS = {**TINY, "eval_every": 0, "train_steps": 0}


def toml_value(value: Any) -> str:
    """``value`` as the TOML text ``--set KEY=TEXT`` reads (inline tables for dicts)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def set_args(settings: dict[str, Any]) -> list[str]:
    return [
        arg for key, value in settings.items() for arg in ("--set", f"{key}={toml_value(value)}")
    ]


def dry_run_config(output: str) -> TrainConfig:
    """The config ``fpa train --dry-run`` printed (between its reasons and its JSON)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("format_version"))
    end = next(i for i, line in enumerate(lines) if line == "{")
    return TrainConfig.from_dict(tomllib.loads("\n".join(lines[start:end])))


def ablate_cell_config(tmp_path: Path, args: list[str], monkeypatch) -> TrainConfig:
    """The config ``fpa ablate`` gives its one cell (``--vary seed=0``, the base's own seed):
    caught as the cells are checked, before anything trains."""
    cells = []

    def caught(found):
        cells.extend(found)
        raise ConfigError("caught the cells")

    monkeypatch.setattr(fpa.ablation.runner, "check_cells", caught)
    result = runner.invoke(app, ["ablate", "--vary", "seed=0", "--out", str(tmp_path), *args])
    assert "caught the cells" in result.output, result.output
    (cell,) = cells
    return cell.config


@pytest.fixture(scope="module")
def painter_run(tmp_path_factory) -> Path:
    """A trained tiny run (16×16, grey), to start from or resume."""
    out = tmp_path_factory.mktemp("runs") / "painter"
    train(tiny(train_steps=1), out=out, progress=False)
    return out


def inputs(kind: str, tmp_path: Path, painter_run: Path) -> dict[str, Any]:
    """Overrides whose run needs something inferred: the channels of grey or colour images,
    the classes of the digits, or the picture of the run it starts from."""
    if kind in ("grey folder", "colour folder"):
        folder = image_folder(tmp_path / "images", 8, colour=kind == "colour folder")
        return {**INPUTS, "data": folder}
    if kind == "conditional digits":
        return {**INPUTS, "data": "mnist", "conditional": True}
    rest = {k: v for k, v in INPUTS.items() if k != "image_size"}  # from the init run
    return {**rest, "init_from": str(painter_run), "reset_discriminator": True}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["grey folder", "colour folder", "conditional digits", "init"])
def test_every_entry_point_trains_the_config_decide_run_returns(
    kind, tmp_path, painter_run, monkeypatch
):
    settings = inputs(kind, tmp_path, painter_run)
    decided = decide_run(RunRequest.read(overrides=settings))

    cli = runner.invoke(
        app, ["train", "--dry-run", "--out", str(tmp_path / "dry"), *set_args(settings)]
    )
    assert cli.exit_code == 0, cli.output
    assert dry_run_config(cli.output) == decided.config
    for line in decided.lines():  # --dry-run says why each inferred value was chosen
        assert line in cli.output

    assert (
        ablate_cell_config(tmp_path / "ablation", set_args(settings), monkeypatch) == decided.config
    )

    started = []
    result = train(out=tmp_path / "lib", progress=False, on_start=started.append, **settings)
    assert result.step == 0 and started == [decided]
    saved = TrainConfig.from_dict(tomllib.loads((tmp_path / "lib" / "config.toml").read_text()))
    assert saved == decided.config

    trainer = prepare_run(None, out=tmp_path / "trainer", changes=settings)
    assert trainer.config == decided.config and trainer.state.config is trainer.config
    assert trainer.reasons == decided.reasons


def test_what_is_inferred_and_why(tmp_path, painter_run):
    grey = decide_run(RunRequest.read(overrides=inputs("grey folder", tmp_path, painter_run)))
    assert grey.config.channels == 1 and grey.reasons["channels"].startswith("1 (the images of")
    assert grey.reasons["preset"].startswith("cpu-demo,")
    colours = image_folder(tmp_path / "colours", 8, colour=True)
    colour = decide_run(RunRequest.read(overrides={**INPUTS, "data": colours}))
    assert colour.config.channels == 3 and "in colour" in colour.reasons["channels"]
    assert colour.reasons["preset"].startswith("cpu-emoji,")  # the colour recipe
    chosen = decide_run(RunRequest.read(overrides={**INPUTS, "data": colours, "channels": 1}))
    assert chosen.config.channels == 1 and "channels" not in chosen.reasons

    init = decide_run(RunRequest.read(overrides=inputs("init", tmp_path, painter_run)))
    assert init.config.image_size == (16, 16) and "--init-from" in init.reasons["image_size"]
    # A library config is a whole config: it chose its channels, yet --init-from's picture
    # wins over it as over a preset's (only overrides name another picture).
    whole = decide_run(RunRequest(base=tiny(image_size=[32, 32], init_from=str(painter_run))))
    assert whole.config.image_size == (16, 16) and "image_size" in whole.reasons


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        ["--set", "rule=hebb"],
        ["--set", "lr=0.01", "--train-steps", "3"],
        ["--preset", "cpu-demo"],
        ["--set", "train_steps=2", "--quiet"],
    ],
)
def test_dry_run_of_a_resume_refuses_what_a_resume_refuses(tmp_path, painter_run, args):
    run = tmp_path / "run"
    shutil.copytree(painter_run, run)
    dry = runner.invoke(app, ["train", "--out", str(run), "--resume", "--dry-run", *args])
    real = runner.invoke(app, ["train", "--out", str(run), "--resume", *args])
    assert dry.exit_code == real.exit_code, (dry.output, real.output)
    if real.exit_code:
        assert dry.exit_code == 2
        assert dry.output.strip() == real.output.strip()  # the same one error line
    else:
        assert "train_steps = 2" in dry.output and "done: 2 steps" in real.output


def test_the_config_file_is_read_once(tmp_path, monkeypatch):
    path = tmp_path / "run.toml"
    path.write_text(tiny(eval_every=0).to_toml())
    reads = []
    read_toml = fpa.training.presets.read_toml
    monkeypatch.setattr(
        fpa.training.presets, "read_toml", lambda p: reads.append(p) or read_toml(p)
    )
    result = runner.invoke(
        app, ["train", "--dry-run", "--config", str(path), "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 0, result.output
    assert reads == [str(path)]
    reads.clear()
    result = runner.invoke(
        app, ["train", "--config", str(path), "--train-steps", "0", "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 0, result.output
    assert reads == [str(path)]


def test_a_decided_config_is_frozen_and_the_trainer_refuses_an_undecided_one(tmp_path):
    config = decide_run(RunRequest(base=tiny())).config
    with pytest.raises(FrozenInstanceError):
        config.lr = 0.1  # type: ignore[misc]
    with pytest.raises(ConfigError, match="decided before it trains"):
        Trainer(tiny(conditional=True), RunDir(tmp_path / "run"))


def test_an_init_from_run_paints_as_its_run_and_refuses_another_picture(tmp_path, painter_run):
    """The --init-from run's painter wins over the options' generator settings (the run keeps
    only its refiner and rule_impl), and a picture it does not paint is refused in one line,
    the same from the CLI's --dry-run and from fpa.train."""
    saved = TrainConfig.from_dict(tomllib.loads((painter_run / "config.toml").read_text()))
    asked = {**inputs("init", tmp_path, painter_run), "paint_steps": 6, "latent_dim": 5}
    decided = decide_run(RunRequest.read(overrides=asked)).config
    assert decided.generator == saved.generator
    assert decided.generator.paint_steps == 4 and decided.latent_dim == 8

    other = {**asked, "channels": 3}
    with pytest.raises(ConfigError) as refused:
        train(RunRequest.read(overrides=other), out=tmp_path / "library", progress=False)
    expected = f"--init-from {painter_run} was trained with channels 1, this run asks for 3"
    assert str(refused.value) == expected
    args = ["train", "--dry-run", "--out", str(tmp_path / "cli"), *set_args(other)]
    assert one_error_line(runner.invoke(app, args)) == f"error: {expected}"
    assert not (tmp_path / "library").exists() and not (tmp_path / "cli").exists()
