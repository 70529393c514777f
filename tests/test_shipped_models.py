"""Every model folder shipped inside fpa loads and keeps what its card claims
(docs/design.md §9): adding a folder under src/fpa/models/shipped/ adds its checks here."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import fpa
import fpa.models.shipped
from fpa.cli import app
from fpa.cli.options import parse_set_options
from fpa.models import read_card
from fpa.runs.config import TrainConfig, migrate_config, read_toml
from fpa.runs.model_layout import CARD_FILE, CONFIG_FILE, MODEL_FILES
from fpa.training.presets import resolve_config
from model_claims import checks_for

SHIPPED = Path(fpa.models.shipped.__file__).parent
FOLDERS = sorted(path for path in SHIPPED.iterdir() if (path / CONFIG_FILE).is_file())
# Claims a shipped model is known to miss, each with its measurement: the test is expected to
# fail (strictly: once the model is retrained to meet it, the entry must go).
KNOWN_SHORTFALLS: dict[tuple[str, str], str] = {}


def claim(folder: Path, name: str):
    shortfall = KNOWN_SHORTFALLS.get((folder.name, name))
    marks = [pytest.mark.xfail(reason=shortfall, strict=True)] if shortfall else []
    return pytest.param(folder, name, marks=marks, id=f"{folder.name}-{name}")


CLAIMS = [claim(folder, name) for folder in FOLDERS for name in checks_for(folder)]


@pytest.mark.parametrize("folder", FOLDERS, ids=[folder.name for folder in FOLDERS])
def test_a_shipped_model_is_registered_complete_and_loads_by_name(folder):
    assert fpa.registry().components["models"][folder.name].origin.distribution == "fpa"
    assert sorted(path.name for path in folder.iterdir()) == sorted(MODEL_FILES)
    generator = fpa.load(folder.name)
    assert generator.latent_dim >= 1
    assert read_card(folder / CARD_FILE).name == folder.name


@pytest.mark.slow
@pytest.mark.parametrize(("folder", "name"), CLAIMS)
def test_a_shipped_model_keeps_what_its_card_claims(folder, name):
    assert checks_for(folder)[name](folder) == []


@pytest.mark.slow
@pytest.mark.parametrize("folder", FOLDERS, ids=[folder.name for folder in FOLDERS])
def test_a_shipped_model_paints_by_name(folder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        app, ["paint", folder.name, "--n", "2", "--animate", "painting.gif"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "painting.gif").stat().st_size > 0


SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "train_shipped_models.sh"


@pytest.mark.parametrize("folder", FOLDERS, ids=[folder.name for folder in FOLDERS])
def test_a_shipped_models_card_states_the_command_that_retrains_it(folder):
    command = read_card(folder / CARD_FILE).command
    assert f'[{folder.name}]="{command}"' in SCRIPT.read_text()


PRESET_FLAGS = {"--preset", "--train-steps", "--set", "--out"}


def preset_command(command: str) -> dict[str, str] | None:
    """The flags of ``fpa train --preset NAME [--train-steps N] [--set KEY=VALUE] --out DIR``,
    or None for a command with any other flag."""
    words = command.split()
    if words[:2] != ["fpa", "train"] or len(words) % 2:
        return None
    flags = dict(zip(words[2::2], words[3::2], strict=True))
    return flags if set(flags) <= PRESET_FLAGS else None


COMMANDS = {folder: preset_command(read_card(folder / CARD_FILE).command) for folder in FOLDERS}
FROM_A_PRESET = [(folder, flags) for folder, flags in COMMANDS.items() if flags]


@pytest.mark.parametrize(
    ("folder", "flags"), FROM_A_PRESET, ids=[folder.name for folder, _ in FROM_A_PRESET]
)
def test_a_shipped_model_trained_from_a_preset_names_the_preset_that_gives_its_settings(
    folder, flags
):
    overrides = parse_set_options([flags["--set"]]) if "--set" in flags else {}
    if "--train-steps" in flags:
        overrides["train_steps"] = int(flags["--train-steps"])
    retrained = resolve_config(preset_name=flags["--preset"], overrides=overrides)
    stored = TrainConfig.from_dict(migrate_config(read_toml(folder / "training.toml")))
    assert retrained.settings() == stored.settings()
