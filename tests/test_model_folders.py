"""Model folders (docs/design.md §9): run → export → load paints exactly the run's EMA
images; bad folders are one line; a failed export leaves a good folder as it was; models are
a plugin kind that every command resolves by name."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

import fpa
import fpa.runs.model_folder
from conftest import plugged_in
from fpa.baselines import BaselineGenerator
from fpa.cli import app
from fpa.models import read_card, register_model_folders
from fpa.runs.model_folder import ModelFolderError
from fpa.runs.model_layout import CARD_FILE, CONFIG_FILE, MODEL_FILES, SAMPLES_FILE, WEIGHTS_FILE
from fpa.training import resolve_config, train
from model_claims import digits_all_drawn, measured_fid_holds
from tiny_runs import tiny

runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory):
    """Real statistics measured here are cached in a folder of this module's, not the user's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FPA_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny run: two steps, an EMA generator that differs from the raw one."""
    folder = tmp_path_factory.mktemp("run") / "run"
    train(tiny(train_steps=2), out=folder, progress=False)
    return folder


@pytest.fixture(scope="module")
def model(run, tmp_path_factory):
    """The run exported, measured on 100 images."""
    return fpa.export(run, tmp_path_factory.mktemp("models") / "tiny", evaluate_n=100)


def invoke(*args):
    return runner.invoke(app, [str(arg) for arg in args])


def copy_of(model: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in MODEL_FILES:
        (copy / name).write_bytes((model / name).read_bytes())
    return copy


def test_a_loaded_model_folder_paints_exactly_the_runs_ema_images(run, model):
    z = torch.randn(6, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = fpa.load(run)(z)
        painted = fpa.load(model)(z)
        raw = fpa.load(run, ema=False)(z)
    assert torch.equal(painted, expected)
    assert not torch.equal(painted, raw)  # the folder holds the EMA weights, not the raw ones


def test_a_loaded_generator_needs_no_gradients_and_warns_about_none(run, model):
    for source in (run, model):
        generator = fpa.load(source)
        assert not any(parameter.requires_grad for parameter in generator.parameters())
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            images = generator(torch.randn(2, 8))
            assert float(images.min()) >= -1 and not images.requires_grad
        generator.requires_grad_()  # to train it further, as torch modules do
        assert generator(torch.randn(2, 8)).requires_grad


def test_the_folder_holds_the_model_files_and_no_training_state(run, model):
    assert sorted(path.name for path in model.iterdir()) == sorted(MODEL_FILES)
    weights = load_file(model / WEIGHTS_FILE)
    assert set(weights) == set(fpa.load(run).state_dict())
    config = json.loads((model / CONFIG_FILE).read_text())
    assert config["format"] == "fpa-model" and config["fpa_version"] == fpa.__version__
    assert set(config["components"]) == {"rules", "painters", "refiners"}
    assert config["components"]["painters"]["distribution"] == "fpa"
    assert config["training"] == {"data": "mnist", "step": 2}


def test_the_card_has_hub_metadata_and_states_what_was_measured(model):
    text = (model / CARD_FILE).read_text()
    head = text.split("---")[1]
    metadata = {
        key: json.loads(value)
        for key, _, value in (line.partition(": ") for line in head.strip().splitlines())
    }
    assert metadata["library_name"] == "fpa"
    assert metadata["license"] == "cc-by-sa-3.0"  # MNIST's, unless --license says otherwise
    card = read_card(model / CARD_FILE)
    assert card.parameters == sum(p.numel() for p in fpa.load(model).parameters())
    assert card.measured is not None and card.measured.features == "digits"
    assert card.measured.n == 100 and "LeCun" in card.attribution
    assert f"FID | {card.measured.scores['fid']:.4g}" in text


@pytest.mark.slow
def test_fpa_evaluate_on_the_folder_gives_the_cards_scores(model):
    assert measured_fid_holds(model) == []


@pytest.mark.slow
def test_the_claim_checks_fail_on_a_card_that_claims_too_much(model, tmp_path):
    copy = copy_of(model, tmp_path)
    card = (copy / CARD_FILE).read_text()
    fid = read_card(copy / CARD_FILE).measured.scores["fid"]
    (copy / CARD_FILE).write_text(card.replace(json.dumps(fid), json.dumps(fid / 2)))
    assert "measured again" in measured_fid_holds(copy)[0]
    assert digits_all_drawn(copy)  # two steps of training paint one blur, not ten digits


def test_samples_png_is_what_fpa_sample_paints(model, tmp_path):
    out = tmp_path / "grid.png"
    result = invoke("sample", model, "--seed", 0, "--scale", 2, "--out", out)
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == (model / SAMPLES_FILE).read_bytes()


def test_paint_and_interpolate_accept_a_model_folder(model, tmp_path):
    painted = invoke(
        "paint", model, "--n", 1, "--out", tmp_path / "p.png", "--animate", tmp_path / "p.gif"
    )
    assert painted.exit_code == 0, painted.output
    walked = invoke("interpolate", model, "--n", 2, "--frames", 2, "--out", tmp_path / "w.gif")
    assert walked.exit_code == 0, walked.output


def corrupt(name: str, change):
    def apply(folder: Path) -> None:
        path = folder / name
        path.write_text(change(path.read_text())) if name != WEIGHTS_FILE else change(path)

    return apply


def other_latent_size(text: str) -> str:
    config = json.loads(text)
    config["generator"]["latent_dim"] = 9
    return json.dumps(config)


def missing_plugin(text: str) -> str:
    config = json.loads(text)
    config["components"]["rules"] = {
        "name": "sparse-delta",
        "plugin": "sparse",
        "distribution": "fpa-sparse-rules",
        "version": "1.2",
    }
    return json.dumps(config)


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (corrupt(CONFIG_FILE, other_latent_size), "model.safetensors does not match config.json"),
        (corrupt(CONFIG_FILE, missing_plugin), "pip install fpa-sparse-rules==1.2"),
        (corrupt(CONFIG_FILE, lambda text: text[:20]), "is not readable JSON"),
        (corrupt(WEIGHTS_FILE, truncate), "not a readable safetensors file"),
        (lambda folder: (folder / WEIGHTS_FILE).unlink(), "has no model.safetensors"),
    ],
    ids=["weights-vs-config", "plugin-missing", "config-corrupt", "weights-corrupt", "no-weights"],
)
def test_a_bad_model_folder_is_one_line(model, tmp_path, damage, message):
    copy = copy_of(model, tmp_path)
    damage(copy)
    result = invoke("sample", copy, "--out", tmp_path / "s.png")
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_fpa_export_writes_a_folder_and_says_what_it_measured(run, tmp_path):
    result = invoke("export", run, tmp_path / "digits", "--n", 100, "--license", "mit")
    assert result.exit_code == 0, result.output
    fid = read_card(tmp_path / "digits" / CARD_FILE).measured.scores["fid"]
    assert f"FID {fid:.4g} on digits features, 100 images" in result.output
    assert read_card(tmp_path / "digits" / CARD_FILE).licence == "mit"


def test_no_ema_on_a_model_folder_is_refused(model, tmp_path):
    result = invoke("sample", model, "--no-ema", "--out", tmp_path / "s.png")
    assert result.exit_code == 2 and "EMA weights only" in result.output


def test_export_refuses_to_replace_a_folder_without_overwrite(run, model, tmp_path):
    assert "--overwrite" in invoke("export", run, model, "--n", 0).output
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("mine")
    result = invoke("export", run, other, "--n", 0)
    assert result.exit_code == 2 and "holds no fpa model folder" in result.output
    assert (other / "todo.txt").read_text() == "mine"


def test_a_failed_export_leaves_the_good_folder_as_it_was(run, model, tmp_path, monkeypatch):
    copy = copy_of(model, tmp_path)
    before = {name: (copy / name).read_bytes() for name in MODEL_FILES}
    writes = []

    def failing_write(path, data):
        writes.append(path)
        if len(writes) == 3:
            raise OSError(28, "No space left on device")
        return real_write(path, data)

    real_write = fpa.runs.model_folder.atomic_write_bytes
    monkeypatch.setattr(fpa.runs.model_folder, "atomic_write_bytes", failing_write)
    with pytest.raises(OSError):
        fpa.export(run, copy, evaluate_n=0, overwrite=True, paints="nothing")
    assert {name: (copy / name).read_bytes() for name in MODEL_FILES} == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["copy"]  # no staging left


def test_overwrite_replaces_a_model_folder_whole(run, model, tmp_path):
    copy = copy_of(model, tmp_path)
    fpa.export(run, copy, evaluate_n=0, overwrite=True, paints="squiggles", name="squiggler")
    card = read_card(copy / CARD_FILE)
    assert (card.paints, card.name, card.measured) == ("squiggles", "squiggler", None)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["copy"]


def test_the_card_of_a_stopped_run_names_the_command_that_trains_its_steps(tmp_path):
    stopped = train(tiny(train_steps=4), out=tmp_path / "run", time_budget=1e-9, progress=False)
    assert (stopped.status, stopped.step) == ("budget", 1)
    model = fpa.export(tmp_path / "run", tmp_path / "model", evaluate_n=0)
    card = read_card(model / CARD_FILE)
    assert card.command == "fpa train --config training.toml --train-steps 1"
    assert any("stopped at step 1 of the 4" in note for note in card.notes)
    # What the card says, done: the same weights.
    config = resolve_config(config_file=str(model / "training.toml"), overrides={"train_steps": 1})
    train(config, out=tmp_path / "again", progress=False)
    z = torch.randn(3, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(fpa.load(tmp_path / "again")(z), fpa.load(model)(z))
    finished = fpa.export(tmp_path / "again", tmp_path / "finished", evaluate_n=0)
    card = read_card(finished / CARD_FILE)
    assert card.command == "fpa train --config training.toml" and card.notes == []


def test_models_are_a_plugin_kind_that_every_command_resolves_by_name(model, tmp_path):
    class Painters:
        @fpa.hookimpl
        def fpa_register_models(self, register):
            register_model_folders(register, model.parent)

    with plugged_in(Painters(), "painters-package"):
        assert "tiny" in fpa.available("models")
        z = torch.randn(2, 8)
        assert torch.equal(fpa.load("tiny")(z), fpa.load(model)(z))
        listed = json.loads(invoke("models", "--json").output)
        row = next(row for row in listed if row["name"] == "tiny")
        assert row["paints"].startswith("16×16 grey handwritten digits")
        assert row["scores"]["fid"] == read_card(model / CARD_FILE).measured.scores["fid"]
        sampled = invoke("sample", "tiny", "--out", tmp_path / "s.png")
        assert sampled.exit_code == 0, sampled.output
        wrong = invoke("sample", "tinny", "--out", tmp_path / "t.png")
        assert wrong.exit_code == 2 and "did you mean 'tiny'?" in wrong.output
    assert "tiny" not in fpa.available("models")


def test_a_model_name_that_names_no_folder_is_one_line(tmp_path):
    class Broken:
        @fpa.hookimpl
        def fpa_register_models(self, register):
            register("ghost", lambda: tmp_path / "gone")

    with plugged_in(Broken(), "ghosts"), pytest.raises(ModelFolderError, match="not a model"):
        fpa.load("ghost")


@pytest.mark.slow
def test_a_baseline_run_exports_and_loads_as_a_baseline(tmp_path):
    out = tmp_path / "baseline"
    train(
        tiny(baseline="conv", baseline_options={"width": 4}, train_steps=2), out=out, progress=False
    )
    folder = fpa.export(out, tmp_path / "conv", evaluate_n=0)
    config = json.loads((folder / CONFIG_FILE).read_text())
    assert set(config["components"]) == {"baselines"}
    assert "not a painter" in read_card(folder / CARD_FILE).generator
    z = torch.randn(3, 8)
    generator = fpa.load(folder)
    assert isinstance(generator, BaselineGenerator)
    assert torch.equal(generator(z), fpa.load(out)(z))
