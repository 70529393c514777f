"""The config format: generator settings in one nested table, one name per setting, and runs
written before that (format version 1, by fpa 0.x's flat config) still load, sample and resume.

``tests/fixtures/v1-run`` was written by the fpa of commit e6c9035 (before the change): a
2-step tiny run. ``v1-run-expected.pt`` holds, from that same code, the EMA samples of seeded
latents and the generator weights after continuing the run to 4 steps.
"""

from __future__ import annotations

import shutil
from dataclasses import fields
from pathlib import Path

import pytest
import torch

import fpa
from closeness import weights_mismatch
from fpa.generator import GeneratorConfig
from fpa.runs import TrainConfig, load_checkpoint
from fpa.runs.checkpoint import FORMAT_VERSION
from fpa.runs.config import CONFIG_VERSION, read_toml
from fpa.training import resolve_config, train

FIXTURES = Path(__file__).parent / "fixtures"
V1_RUN = FIXTURES / "v1-run"
V1_EXPECTED = FIXTURES / "v1-run-expected.pt"


def expected() -> dict:
    return torch.load(V1_EXPECTED, weights_only=True)


def test_a_version_1_checkpoint_is_migrated_on_load():
    raw = torch.load(V1_RUN / "checkpoints" / "latest.pt", weights_only=True)
    assert raw["format_version"] == 1 and "steps" in raw["generator_config"]
    state = load_checkpoint(V1_RUN / "checkpoints" / "latest.pt")
    assert state["format_version"] == FORMAT_VERSION == 2
    assert state["generator_config"]["paint_steps"] == raw["generator_config"]["steps"] == 4
    assert "steps" not in state["generator_config"]
    config = TrainConfig.from_dict(state["config"])
    assert config.generator.paint_steps == raw["config"]["paint_steps"]
    assert config.generator.updates_per_step == raw["config"]["updates_per_step"] == 2
    assert config.generator.painter_options == raw["config"]["painter_options"]
    assert config.discriminator_options == raw["config"]["discriminator_options"]


def test_a_version_1_run_samples_what_it_sampled_before():
    saved = expected()
    generator = fpa.load(V1_RUN)
    assert generator.paint_steps == 4
    with torch.no_grad():
        images = generator(saved["latents"])
    torch.testing.assert_close(images, saved["images"], rtol=0, atol=1e-5)


@pytest.mark.slow
def test_a_version_1_run_resumes_to_the_weights_the_old_fpa_reached(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(V1_RUN, run)
    result = train(out=run, resume=True, train_steps=4, progress=False)
    assert result.step == 4
    state = load_checkpoint(run / "checkpoints" / "latest.pt")
    reached = expected()["generator_after_4_steps"]
    mismatch = weights_mismatch(state["generator"], reached, part="generator")
    assert mismatch is None, mismatch
    # The resumed run rewrote its config in the current format.
    assert read_toml(run / "config.toml")["format_version"] == CONFIG_VERSION


def test_a_flat_version_1_config_file_reads_as_the_nested_config():
    flat = read_toml(V1_RUN / "config.toml")
    assert "format_version" not in flat and "paint_steps" in flat
    config = TrainConfig.from_dict(flat)
    state = load_checkpoint(V1_RUN / "checkpoints" / "latest.pt")
    assert config == TrainConfig.from_dict(state["config"])
    assert resolve_config(config_file=str(V1_RUN / "config.toml")) == config


def test_the_written_config_has_a_version_and_a_generator_table(tmp_path):
    config = TrainConfig().with_overrides({"paint_steps": 8, "lr": 1e-3})
    path = tmp_path / "config.toml"
    path.write_text(config.to_toml())
    data = read_toml(path)
    assert data["format_version"] == CONFIG_VERSION
    assert data["generator"]["paint_steps"] == 8 and "paint_steps" not in data
    assert data["lr"] == 1e-3
    assert TrainConfig.from_dict(data) == config
    assert resolve_config(config_file=str(path)) == config


def test_a_newer_format_is_refused_with_one_line():
    with pytest.raises(fpa.ConfigError, match=r"format_version 3.*upgrade fpa"):
        TrainConfig.from_dict({"format_version": 3})


def test_every_setting_has_one_name_and_flat_keys_reach_the_generator():
    generator_names = {item.name for item in fields(GeneratorConfig)}
    train_names = {item.name for item in fields(TrainConfig)} - {"generator"}
    assert not generator_names & train_names
    base = TrainConfig()
    for name in generator_names - {"image_size", "rule_impl"}:
        value = getattr(base.generator, name)
        assert base.with_overrides({name: value}).settings()[name] == value
    changed = base.with_overrides({"paint_steps": 32, "generator": {"latent_dim": 16}})
    assert (changed.generator.paint_steps, changed.latent_dim) == (32, 16)
    # A flat key wins over the table's entry for the same setting.
    both = base.with_overrides({"paint_steps": 8, "generator": {"paint_steps": 32}})
    assert both.generator.paint_steps == 8


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"paint_step": 4}, "did you mean 'paint_steps'"),
        ({"generator": {"rule_option": {}}}, "unknown generator option 'rule_option'"),
        ({"generator": "delta"}, "generator must be a table"),
        ({"paint_steps": "four"}, "paint_steps must be int"),
    ],
)
def test_bad_settings_are_refused_by_name(overrides, message):
    with pytest.raises(fpa.ConfigError, match=message):
        TrainConfig().with_overrides(overrides)


def test_build_generator_takes_the_config_names_and_passes_the_rest_to_the_painter():
    generator = fpa.build_generator(image_size=8, paint_steps=4, latent_dim=4, hidden_size=8)
    assert generator.config.paint_steps == 4
    assert generator.config.painter_options == {"hidden_size": 8}
    with pytest.raises(fpa.ConfigError, match="use paint_steps"):
        fpa.build_generator(image_size=8, steps=4)


def test_a_new_refiner_drops_the_options_it_cannot_take_from_the_preset():
    refined = resolve_config(preset_name="cpu-emoji-64")
    assert refined.generator.refiner_options["width"] == 8
    alone = resolve_config(preset_name="cpu-emoji-64", overrides={"refiner": "identity"})
    assert (alone.generator.refiner, alone.generator.refiner_options) == ("identity", {})
    generator = alone.with_overrides({"image_size": 16}).build_generator()
    assert not any("refiner" in name for name, _ in generator.named_parameters())
    before, after = refined.settings(), alone.settings()
    assert {key for key in before if before[key] != after[key]} == {"refiner", "refiner_options"}


def test_options_a_new_choice_takes_are_kept():
    wide = resolve_config(preset_name="cpu-demo-512", overrides={"painter": "transformer"})
    assert wide.generator.painter_options == {"hidden_size": 512, "code_size": 32}


def test_options_given_with_the_new_choice_are_still_checked():
    config = resolve_config(
        preset_name="cpu-emoji-64",
        overrides={"refiner": "identity", "refiner_options": {"width": 8}},
    )
    with pytest.raises(fpa.ConfigError, match="refiner 'identity' cannot be built"):
        config.build_generator()


def test_a_baseline_on_a_refined_preset_trains_without_the_painters_refiner():
    config = resolve_config(preset_name="cpu-emoji-64", overrides={"baseline": "conv"})
    assert (config.baseline, config.generator.refiner) == ("conv", "identity")
    assert config.generator.refiner_options == {}
    with pytest.raises(fpa.ConfigError, match="drop --init-from and --refiner"):
        resolve_config(
            preset_name="cpu-emoji-64", overrides={"baseline": "conv", "refiner": "unet"}
        )


def test_dropping_the_refiner_drops_its_rate_but_a_rate_given_with_no_refiner_is_refused():
    refined = resolve_config(preset_name="cpu-emoji-64", overrides={"lr_refiner": 1e-4})
    assert refined.refiner_lr == 1e-4 and refined.lr == 2e-4
    for change in ({"refiner": "identity"}, {"baseline": "conv"}):
        assert refined.with_overrides(change).lr_refiner == 0.0
    with pytest.raises(fpa.ConfigError, match="lr_refiner"):
        refined.with_overrides({"refiner": "identity", "lr_refiner": 1e-4})
