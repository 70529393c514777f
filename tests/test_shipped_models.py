"""Every model folder shipped inside fpa loads and keeps what its card claims
(docs/design.md §9): adding a folder under src/fpa/models/shipped/ adds its checks here."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import fpa
import fpa.models.shipped
from fpa.cli import app
from fpa.models import read_card
from fpa.runs.model_layout import CARD_FILE, CONFIG_FILE, MODEL_FILES
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
