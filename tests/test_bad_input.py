"""Bad input outside the training loop: one ``error:`` line, exit code 2, before any allocation.

Each case here used to end in a traceback (or an out-of-memory crash, or was silently ignored).
"""

from __future__ import annotations

import math
import shutil
import time

import pytest
import torch
from typer.testing import CliRunner

import fpa
from conftest import plugged_in
from error_lines import one_error_line
from fpa.cli import app
from fpa.errors import ConfigError
from fpa.runs.checkpoint import CheckpointError, load_generator
from fpa.training import TrainConfig, check_time_budget, train
from rule_fixtures import StepOnlyDeltaRule
from tiny_runs import tiny

runner = CliRunner()
TOO_BIG_SEED = str(2**64)


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run") / "run"
    train(tiny(train_steps=2), out=folder, progress=False)
    return folder


# ---------------------------------------------------------------- config files and numbers
def test_a_config_file_that_is_not_utf8_is_one_line(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('rule = "delta"\n# caf\xe9\n'.encode("latin-1"))
    one_error_line(invoke("train", "--config", path, "--dry-run"), str(path), "UTF-8")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lr", math.nan),
        ("lr_d", math.inf),
        ("ema_beta", math.nan),
        ("betas", (0.0, math.nan)),
        ("aux_weight", math.nan),
        ("recon_weight", -math.inf),
        ("diversity_weight", math.nan),
        ("reg_weight", math.nan),
        ("augment_prob", math.nan),
    ],
)
def test_non_finite_numbers_are_refused(field, value):
    with pytest.raises(ConfigError, match=f"{field} must be a finite number"):
        TrainConfig(**{field: value})


def test_lr_nan_on_the_command_line_is_one_line():
    one_error_line(invoke("train", "--lr", "nan", "--dry-run"), "lr must be a finite number")
    one_error_line(invoke("train", "--set", "lr=nan", "--dry-run"), "lr must be a finite number")


@pytest.mark.parametrize("budget", [math.nan, math.inf, -1.0, 0.0])
def test_a_time_budget_must_be_a_positive_finite_number(budget):
    with pytest.raises(ConfigError, match="--time-budget must be positive and finite"):
        check_time_budget(budget)


def test_time_budget_nan_on_the_command_line_is_one_line():
    result = invoke("train", "--time-budget", "nan", "--dry-run")
    one_error_line(result, "--time-budget must be positive and finite")


def test_threads_below_one_on_the_command_line_is_one_line(tmp_path):
    result = invoke("train", "--threads", "0", "--dry-run", "--out", tmp_path / "run")
    one_error_line(result, "--threads must be at least 1")


# ---------------------------------------------------------------- seeds
@pytest.mark.parametrize("seed", [-1, 2**63, 2**64, 2**70])
def test_seeds_outside_0_to_2_63_are_refused_in_the_config(seed):
    with pytest.raises(ConfigError, match="seed must be a whole number from 0 to 2\\*\\*63 - 1"):
        TrainConfig(seed=seed)


def test_the_largest_seed_still_trains_its_streams():
    assert TrainConfig(seed=2**63 - 1).seed == 2**63 - 1


@pytest.mark.slow
@pytest.mark.parametrize("command", ["sample", "paint", "interpolate", "evaluate"])
def test_seed_overflow_in_commands_is_one_line(run, tmp_path, command):
    result = invoke(command, run, "--seed", TOO_BIG_SEED, "--out", tmp_path / "out.png")
    one_error_line(result, "--seed must be a whole number from 0 to 2**63 - 1")


def test_seed_overflow_in_preview_and_train_is_one_line(tmp_path):
    result = invoke("preview", "--seed", TOO_BIG_SEED, "--out", tmp_path / "p.png")
    one_error_line(result, "--seed must be a whole number")
    one_error_line(invoke("train", "--seed", TOO_BIG_SEED, "--dry-run"), "seed must be")


# ---------------------------------------------------------------- impossible sizes
@pytest.mark.parametrize("dry_run", [True, False])
def test_an_impossible_image_size_is_refused_at_once(tmp_path, dry_run):
    started = time.perf_counter()
    args = ["train", "--image-size", "100000", "--out", tmp_path / "run"]
    result = invoke(*args, *(["--dry-run"] if dry_run else []))
    one_error_line(result, "100000×100000", "GiB")
    assert time.perf_counter() - started < 10
    assert not (tmp_path / "run").exists()


def test_an_impossible_batch_size_is_refused_at_once(tmp_path):
    result = invoke("train", "--batch-size", 10**12, "--dry-run")
    one_error_line(result, "batch of 1000000000000 real", "GiB")


def test_a_large_image_that_fits_is_still_allowed():
    sizes = fpa.training.describe(tiny(image_size=[256, 256], batch_size=4))
    assert sizes["generator"] > 0


@pytest.mark.parametrize(
    ("command", "extra"),
    [("sample", []), ("paint", []), ("interpolate", ["--frames", "2"])],
)
def test_a_huge_n_is_refused_before_any_latent_is_drawn(run, tmp_path, command, extra):
    started = time.perf_counter()
    result = invoke(command, run, "--n", 100_000_000, *extra, "--out", tmp_path / "o.png")
    one_error_line(result, "pixels", "--n")
    assert time.perf_counter() - started < 10
    assert not (tmp_path / "o.png").exists()


def test_preview_of_an_impossible_size_is_refused(tmp_path):
    result = invoke("preview", "--image-size", "100000", "--out", tmp_path / "p.png")
    one_error_line(result, "pixels")


def test_sample_generates_in_batches_and_writes_every_image(run, tmp_path):
    result = invoke(
        "sample", run, "--n", 7, "--batch-size", 2, "--out", tmp_path / "g.png",
        "--individual", tmp_path / "each",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "each").iterdir())) == 7


def test_paint_in_chunks_gives_the_figure_of_one_batch(run):
    from fpa.viz.figure import paint_figure

    generator = fpa.load(run)
    z = torch.randn(3, generator.latent_dim, generator=torch.Generator().manual_seed(0))
    whole = paint_figure(generator, z, every=2)
    chunked = paint_figure(generator, z, every=2, chunk=2)
    assert (chunked.rows, chunked.columns, chunked.steps) == (
        whole.rows,
        whole.columns,
        whole.steps,
    )
    assert torch.allclose(chunked.tiles, whole.tiles, atol=1e-6)


# ---------------------------------------------------------------- checkpoints lacking fields
def edited_checkpoint(run, tmp_path, edit) -> str:
    state = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    edit(state)
    path = tmp_path / "edited.pt"
    torch.save(state, path)
    return path


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda s: s.pop("generator_config"), "generator_config"),
        (lambda s: s.pop("ema_generator"), "ema_generator"),
        (lambda s: s.update(generator="weights"), "generator"),
        (lambda s: s.update(step="ten"), "step"),
        (lambda s: s.update(components={"rules": "delta"}), "components"),
        (lambda s: s["generator_config"].update(paint_steps="four"), "generator_config"),
        (lambda s: s.update(optimizer_d=None), "optimizer_d"),
        (lambda s: s.pop("fixed_latents"), "fixed_latents"),
    ],
)
def test_a_checkpoint_lacking_a_field_names_the_file_and_the_field(run, tmp_path, edit, field):
    path = edited_checkpoint(run, tmp_path, edit)
    with pytest.raises(CheckpointError, match=field) as caught:
        load_generator(path)
    assert str(path) in str(caught.value)
    one_error_line(invoke("sample", path, "--out", tmp_path / "g.png"), str(path), field)


def test_evaluate_and_resume_of_a_checkpoint_lacking_fields_are_one_line(run, tmp_path):
    path = edited_checkpoint(run, tmp_path, lambda s: s.pop("config"))
    one_error_line(invoke("evaluate", path, "--n", 100), str(path), "config")
    resumed = tmp_path / "resumed"
    shutil.copytree(run, resumed)
    edited = edited_checkpoint(run, tmp_path, lambda s: s.pop("optimizer_d"))
    (resumed / "checkpoints" / "latest.pt").write_bytes(edited.read_bytes())
    before = (resumed / "checkpoints" / "latest.pt").read_bytes()
    one_error_line(invoke("train", "--out", resumed, "--resume"), "optimizer_d")
    assert (resumed / "checkpoints" / "latest.pt").read_bytes() == before


# ---------------------------------------------------------------- a rule that breaks its contract
class WrongShapeRule(StepOnlyDeltaRule):
    def paint(self, keys, values, lr, **kwargs):
        return super().paint(keys, values, lr, **kwargs)[..., :-1, :]


class NotATensorRule(StepOnlyDeltaRule):
    def paint(self, keys, values, lr, **kwargs):
        return [0.0]


class BrokenRules:
    @fpa.hookimpl
    def fpa_register_rules(self, register):
        register("wrong-shape", WrongShapeRule)
        register("not-a-tensor", NotATensorRule)


@pytest.mark.parametrize(
    ("rule", "got"), [("wrong-shape", "(2, 1, 7, 8)"), ("not-a-tensor", "list")]
)
def test_a_rule_returning_the_wrong_thing_is_named_with_its_plugin(rule, got):
    with plugged_in(BrokenRules(), name="broken-rules"):
        generator = fpa.build_generator(rule=rule, image_size=8, paint_steps=2, latent_dim=4)
        with pytest.raises(fpa.FpaError) as caught:
            generator(torch.randn(2, 4))
        message = str(caught.value)
        assert f"rule {rule!r}" in message and "broken-rules" in message
        assert "(2, 1, 8, 8)" in message and got in message
        with pytest.raises(fpa.FpaError, match="paint"):
            generator.paint_trace(torch.randn(2, 4))
