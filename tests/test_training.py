"""Training end to end on tiny models: exact resume, run folders, checkpoints and faults."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import ClassVar

import pytest
import torch
from typer.testing import CliRunner

import fpa
from conftest import absent_name, plugged_in, requires_cuda
from fpa.cli import app
from fpa.runs.checkpoint import CheckpointError, load_checkpoint
from fpa.runs.saved import check_components
from fpa.training import (
    PRESETS,
    TrainConfig,
    TrainingDivergedError,
    describe,
    prepare_run,
    resolve_config,
    train,
)
from rule_fixtures import StepOnlyDeltaRule, ThirdPartyRules
from tiny_runs import tiny

runner = CliRunner()


def tensors_equal(left, right) -> bool:
    """Deep bitwise equality of nested checkpoint content."""
    if isinstance(left, torch.Tensor):
        return isinstance(right, torch.Tensor) and torch.equal(left, right)
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(tensors_equal(left[k], right[k]) for k in left)
    if isinstance(left, list | tuple):
        pairs = zip(left, right, strict=False)
        return len(left) == len(right) and all(tensors_equal(a, b) for a, b in pairs)
    return left == right


EXACT_KEYS = (
    "generator",
    "discriminator",
    "ema_generator",
    "ema_updates",
    "optimizer_g",
    "optimizer_d",
    "data",
    "random",
    "torch_rng",
    "fixed_latents",
    "step",
    "augment_prob",
)


@pytest.mark.slow
def test_resume_is_exact(tmp_path):
    train(tiny(), out=tmp_path / "straight", progress=False)
    train(tiny(train_steps=2), out=tmp_path / "split", progress=False)
    train(out=tmp_path / "split", resume=True, train_steps=4, progress=False)
    straight = load_checkpoint(tmp_path / "straight" / "checkpoints" / "latest.pt")
    split = load_checkpoint(tmp_path / "split" / "checkpoints" / "latest.pt")
    assert straight["step"] == split["step"] == 4
    for key in EXACT_KEYS:
        assert tensors_equal(straight[key], split[key]), key

    def losses(run):
        lines = (tmp_path / run / "metrics.jsonl").read_text().splitlines()
        return [(r["step"], r["loss_d"], r["loss_g"]) for r in map(json.loads, lines)]

    assert losses("straight") == losses("split")


@pytest.mark.slow
def test_run_directory_holds_config_metrics_samples_and_checkpoints(tmp_path):
    result = train(tiny(), out=tmp_path / "run", progress=False)
    run = tmp_path / "run"
    assert result.status == "finished" and result.step == 4
    saved = TrainConfig.from_dict(
        __import__("fpa.runs.config", fromlist=["read_toml"]).read_toml(run / "config.toml")
    )
    assert saved == tiny()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert all(r["images_per_s"] > 0 and "loss_d" in r and "loss_g" in r for r in records)
    names = sorted(p.name for p in (run / "samples").iterdir())
    assert names == ["latest.png", "step_000000.png", "step_000002.png", "step_000004.png"]
    checkpoints = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert checkpoints == ["latest.pt", "step_000002.pt", "step_000004.pt"]
    state = load_checkpoint(run / "checkpoints" / "latest.pt")
    assert state["fpa_version"] == fpa.__version__
    assert state["components"]["rules"] == {
        "name": "delta",
        "plugin": fpa.registry().components["rules"]["delta"].plugin,
        "distribution": "fpa",
        "version": fpa.__version__,
    }


@pytest.mark.slow
def test_load_returns_the_ema_generator_ready_to_sample(tmp_path):
    train(tiny(), out=tmp_path / "run", progress=False)
    generator = fpa.load(tmp_path / "run")
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")
    assert not generator.training
    for name, tensor in generator.state_dict().items():
        assert torch.equal(tensor, state["ema_generator"][name])
    assert not torch.equal(
        state["ema_generator"]["head.linear.weight"], state["generator"]["head.linear.weight"]
    )
    images = generator(torch.randn(3, 8))
    assert images.shape == (3, 1, 16, 16)
    raw = fpa.load(tmp_path / "run" / "checkpoints" / "step_000002.pt", ema=False)
    step2 = load_checkpoint(tmp_path / "run" / "checkpoints" / "step_000002.pt")
    assert torch.equal(raw.head.linear.weight, step2["generator"]["head.linear.weight"])


@pytest.mark.slow
def test_a_third_party_rule_trains_and_its_checkpoint_names_the_missing_plugin(tmp_path):
    class Plugin:
        @fpa.hookimpl
        def fpa_register_rules(self, register):
            register("step-only-delta", StepOnlyDeltaRule)

    with plugged_in(Plugin(), name="test-rules"):
        result = train(
            tiny(rule="step-only-delta", train_steps=2), out=tmp_path / "run", progress=False
        )
        assert result.step == 2
    saved = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")
    assert saved["rule_impl_used"] == "step"  # what painted: the rule has no parallel form
    assert saved["generator_config"]["rule_impl"] == "parallel"  # what was asked
    with pytest.raises(CheckpointError, match="needs rule 'step-only-delta'"):
        fpa.load(tmp_path / "run")


def test_cli_dry_run_says_a_rule_without_a_parallel_form_paints_with_the_step_loop(tmp_path):
    with plugged_in(ThirdPartyRules(), name="test-rules"):
        result = runner.invoke(
            app, ["train", "--dry-run", "--rule", "step-only-delta", "--out", str(tmp_path / "r")]
        )
    assert result.exit_code == 0, result.output
    assert 'rule_impl = "parallel"' in result.output
    assert '"rule_impl_used": "step"' in result.output
    assert "step loop: rule 'step-only-delta' has no parallel form" in result.output
    plain = runner.invoke(app, ["train", "--dry-run", "--out", str(tmp_path / "r")])
    assert '"rule_impl_used": "parallel"' in plain.output and "note" not in plain.output


DEMO = "cpu-demo, the default for grey pictures"
EMOJI = "cpu-emoji, the colour recipe, since the run paints in colour"


@pytest.mark.parametrize(
    ("args", "said", "strokes"),
    [
        ([], DEMO, "per-channel"),
        (["--data", "emoji", "--channels", "3"], EMOJI, "coloured"),
        (["--channels", "3"], EMOJI, "coloured"),
        (["--preset", "cpu-demo"], None, "per-channel"),
        (["--preset", "cpu-emoji", "--rule", "oja"], None, "coloured"),
    ],
)
def test_train_says_which_preset_it_took_when_it_picked_one_itself(tmp_path, args, said, strokes):
    result = runner.invoke(app, ["train", *args, "--dry-run", "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("preset: ")]
    expected = [] if said is None else [f"preset: {said} (--preset NAME takes another)"]
    assert lines == expected
    # What was said is what was taken: cpu-emoji paints coloured strokes, cpu-demo does not.
    assert f'strokes = "{strokes}"' in result.output


@pytest.mark.slow
def test_a_run_that_starts_says_which_preset_it_took_and_a_refused_one_does_not(tmp_path):
    quick = ["--train-steps", "1", "--batch-size", "8", "--eval-every", "0", "--quiet"]
    result = runner.invoke(app, ["train", *quick, "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"preset: {DEMO} (--preset NAME takes another)\n")
    refused = runner.invoke(app, ["train", *quick, "--out", str(tmp_path / "run")])
    assert refused.exit_code == 2 and refused.output.startswith("error:"), refused.output


@pytest.mark.usefixtures("third_party_rules")
def test_a_missing_plugin_names_its_distribution_and_version_and_pip_is_one_option(tmp_path):
    missing = absent_name("rules", "my-rule")

    def check(state):
        path = tmp_path / "x.pt"
        check_components(
            state["components"], source=path, unusable=str(path), error=CheckpointError
        )

    state = {
        "components": {
            "rules": {
                "name": missing,
                "plugin": "my_rules",
                "distribution": "my-local-rules",
                "version": "0.3.1",
            }
        }
    }
    with pytest.raises(CheckpointError) as raised:
        check(state)
    message = str(raised.value)
    assert f"needs rule '{missing}'" in message and "\n" not in message
    assert "my-local-rules 0.3.1" in message and "plugin 'my_rules'" in message
    assert "pip install my-local-rules==0.3.1" in message and "pip install -e" in message
    runtime = {"components": {"rules": {"name": missing, "plugin": "p", "distribution": None}}}
    with pytest.raises(CheckpointError, match="registered at runtime"):
        check(runtime)


@pytest.mark.slow
def test_out_folder_with_a_run_is_refused_without_resume_or_overwrite(tmp_path):
    train(tiny(train_steps=1), out=tmp_path / "run", progress=False)
    before = (tmp_path / "run" / "checkpoints" / "latest.pt").read_bytes()
    with pytest.raises(fpa.ConfigError, match="already holds a run"):
        prepare_run(tiny(), out=tmp_path / "run")
    assert (tmp_path / "run" / "checkpoints" / "latest.pt").read_bytes() == before
    train(tiny(train_steps=1, seed=5), out=tmp_path / "run", overwrite=True, progress=False)
    assert (tmp_path / "run" / "checkpoints" / "latest.pt").read_bytes() != before
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(fpa.ConfigError, match="holds no fpa run"):
        prepare_run(tiny(), out=tmp_path / "other", overwrite=True)


@pytest.mark.slow
def test_resume_refuses_to_change_the_maths_of_the_run(tmp_path):
    train(tiny(train_steps=1), out=tmp_path / "run", progress=False)
    with pytest.raises(fpa.ConfigError, match="cannot change rule"):
        prepare_run(None, out=tmp_path / "run", resume=True, changes={"rule": "hebb"})
    with pytest.raises(fpa.ConfigError, match="holds no checkpoint"):
        prepare_run(None, out=tmp_path / "empty", resume=True)


@pytest.mark.slow
@pytest.mark.parametrize(
    "content",
    [b"not a checkpoint at all", b"PK\x03\x04 truncated zip"],
)
def test_corrupt_checkpoint_is_a_clear_error_and_left_untouched(tmp_path, content):
    train(tiny(train_steps=1), out=tmp_path / "run", progress=False)
    latest = tmp_path / "run" / "checkpoints" / "latest.pt"
    latest.write_bytes(content)
    result = runner.invoke(app, ["train", "--out", str(tmp_path / "run"), "--resume"])
    assert result.exit_code == 2
    assert "not a readable fpa checkpoint" in result.output
    assert latest.read_bytes() == content


class Payload:
    """An object a malicious checkpoint could smuggle in through pickle."""


def test_checkpoints_with_code_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "fpa-checkpoint", "payload": Payload()}, path)
    with pytest.raises(CheckpointError, match="not a readable fpa checkpoint"):
        load_checkpoint(path)


def test_a_checkpoint_with_code_objects_is_refused_without_advice_to_load_it_anyway(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "fpa-checkpoint", "payload": Payload()}, path)
    result = runner.invoke(app, ["sample", str(path), "--out", str(tmp_path / "g.png")])
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"error: {path} is not a readable fpa checkpoint")
    assert "refuses" in line and "Payload" in line
    assert "weights_only" not in line and "can still be loaded" not in line
    assert "\x1b" not in line


class NanOnCall(StepOnlyDeltaRule):
    """Paints NaN on chosen calls (counted across instances), to test divergence recovery."""

    calls = 0
    poisoned: ClassVar[set[int]] = set()

    def paint(self, keys, values, lr, **kwargs):
        NanOnCall.calls += 1
        painted = super().paint(keys, values, lr, **kwargs)
        return painted * float("nan") if NanOnCall.calls in NanOnCall.poisoned else painted


class NanPlugin:
    @fpa.hookimpl
    def fpa_register_rules(self, register):
        register("nan-on-call", NanOnCall)


@pytest.mark.slow
def test_a_nan_loss_reloads_the_last_good_checkpoint_and_continues(tmp_path):
    NanOnCall.calls, NanOnCall.poisoned = 0, {4}  # step 2, discriminator pass
    with plugged_in(NanPlugin(), name="nan-plugin"):
        result = train(tiny(rule="nan-on-call"), out=tmp_path / "run", progress=False)
    assert result.status == "finished" and result.step == 4
    records = [
        json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    events = [r for r in records if r.get("event") == "nan_restart"]
    assert len(events) == 1
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")
    assert all(torch.isfinite(t).all() for t in state["generator"].values())


@pytest.mark.slow
def test_a_run_that_keeps_diverging_stops_with_a_clear_message(tmp_path):
    NanOnCall.calls, NanOnCall.poisoned = 0, set(range(3, 1000))
    diverges = pytest.raises(TrainingDivergedError, match="NaN")
    with plugged_in(NanPlugin(), name="nan-plugin"), diverges:
        train(tiny(rule="nan-on-call", max_nan_restarts=2), out=tmp_path / "run", progress=False)
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")["step"] == 0


@pytest.mark.slow
def test_a_stop_request_saves_a_resumable_checkpoint(tmp_path):
    trainer = prepare_run(tiny(train_steps=6), out=tmp_path / "run")
    result = trainer.run(stop_requested=lambda: trainer.step >= 3)
    assert result.status == "interrupted" and result.step == 3
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")["step"] == 3
    resumed = train(out=tmp_path / "run", resume=True, progress=False)
    assert resumed.step == 6


@pytest.mark.slow
def test_sigterm_saves_and_exits_cleanly(tmp_path):
    run = tmp_path / "run"
    config = tmp_path / "tiny.toml"
    config.write_text(tiny(train_steps=100_000, checkpoint_every=100_000).to_toml())
    process = subprocess.Popen(
        [sys.executable, "-m", "fpa", "train", "--config", str(config), "--out", str(run)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    metrics = run / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not (metrics.exists() and metrics.read_text().count("\n") >= 2):
        assert time.monotonic() < deadline and process.poll() is None, process.stderr.read()
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "--resume" in stderr
    step = load_checkpoint(run / "checkpoints" / "latest.pt")["step"]
    assert 2 <= step < 100_000


def test_presets_config_files_and_flags_layer_in_order(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('preset = "paper-64"\nbatch_size = 7\nlr = 0.001\n')
    config = resolve_config(config_file=str(path), overrides={"lr": 0.003})
    assert config.image_size == (64, 64) and config.discriminator == "lightgan"
    assert config.batch_size == 7 and config.lr == 0.003
    assert resolve_config().batch_size == TrainConfig().batch_size
    with pytest.raises(fpa.ConfigError, match="did you mean 'batch_size'"):
        resolve_config(overrides={"batchsize": 3})
    with pytest.raises(fpa.ConfigError, match="unknown preset"):
        resolve_config(preset_name="gpu-demo")


def test_config_round_trips_through_toml(tmp_path):
    from fpa.runs.config import read_toml

    config = tiny(betas=[0.5, 0.9], rule_options={"first_step_unit_rate": True})
    path = tmp_path / "c.toml"
    path.write_text(config.to_toml())
    assert TrainConfig.from_dict(read_toml(path)) == config


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rule", "delt"], "did you mean 'delta'"),
        (["--discriminator", "huge"], "unknown discriminator 'huge'"),
        (["--data", "/no/such/folder"], "/no/such/folder"),
        (["--image-size", "20"], "20"),
        (["--precision", "fp16", "--device", "cpu"], "fp16 needs a CUDA device"),
        (["--set", "betas=[2, 3]"], "betas"),
        (["--set", "nonsense"], "KEY=VALUE"),
        (["--time-budget", "0"], "--time-budget must be positive"),
        (["--updates-per-step", "3"], "must divide paint_steps (16)"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_code_2(tmp_path, args, message):
    result = runner.invoke(app, ["train", "--out", str(tmp_path / "run"), "--quiet", *args])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]


def test_cli_dry_run_prints_config_and_sizes_and_writes_nothing(tmp_path):
    result = runner.invoke(
        app, ["train", "--dry-run", "--rule", "oja", "--out", str(tmp_path / "run")]
    )
    assert result.exit_code == 0, result.output
    assert 'rule = "oja"' in result.output and '"discriminator":' in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_cli_trains_with_a_config_file_and_flags(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(tiny().to_toml())
    result = runner.invoke(
        app,
        [
            "train",
            "--config",
            str(config),
            "--rule",
            "hebb",
            "--updates-per-step",
            "2",
            "--train-steps",
            "2",
            "--out",
            str(tmp_path / "run"),
        ],
    )
    assert result.exit_code == 0, result.output
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")
    assert state["config"]["generator"]["rule"] == "hebb" and state["step"] == 2
    assert state["config"]["generator"]["updates_per_step"] == 2
    assert os.path.exists(tmp_path / "run" / "samples" / "latest.png")


@pytest.mark.slow
def test_cli_time_budget_stops_with_a_checkpoint_and_resume_goes_on(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(tiny(train_steps=5).to_toml())
    run = tmp_path / "run"
    stopped = runner.invoke(
        app, ["train", "--config", str(config), "--time-budget", "1e-9", "--out", str(run)]
    )
    assert stopped.exit_code == 0, stopped.output
    assert "time budget reached at step 1" in stopped.output
    assert load_checkpoint(run / "checkpoints" / "latest.pt")["step"] == 1
    finished = runner.invoke(app, ["train", "--out", str(run), "--resume"])
    assert finished.exit_code == 0, finished.output
    assert load_checkpoint(run / "checkpoints" / "latest.pt")["step"] == 5


@requires_cuda
@pytest.mark.cuda
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_training_runs_on_cuda_in_every_precision(tmp_path, precision):
    result = train(
        tiny(device="cuda", precision=precision, discriminator="lightgan"),
        out=tmp_path / "run",
        progress=False,
    )
    assert result.status == "finished" and result.step == 4
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")
    assert all(torch.isfinite(t).all() for t in state["generator"].values())
    generator = fpa.load(tmp_path / "run", device="cuda")
    assert generator(torch.randn(2, 8, device="cuda")).device.type == "cuda"


@requires_cuda
@pytest.mark.cuda
def test_the_rule_solve_stays_in_float32_under_autocast():
    generator = torch.Generator().manual_seed(0)
    keys = torch.randn(2, 32, 16, generator=generator).softmax(-1).cuda()
    values = torch.randn(2, 32, 16, generator=generator).cuda()
    lr = torch.rand(2, 32, 1, generator=generator).cuda()
    rule = fpa.build_rule("delta")
    reference = rule.paint(keys, values, lr)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        painted = rule.paint(keys, values, lr)
    assert painted.dtype == torch.float32
    torch.testing.assert_close(painted, reference)


def test_ema_decay_warms_up_then_settles():
    from fpa.training.ema import ema_model, warmup_decay

    module = torch.nn.Linear(2, 1, bias=False)
    ema = ema_model(module, beta=0.9)
    with torch.no_grad():
        module.weight.fill_(1.0)
    ema.update_parameters(module)
    expected = 1.0
    for updates, value in enumerate([3.0, 5.0, 7.0, -2.0], start=1):
        with torch.no_grad():
            module.weight.fill_(value)
        ema.update_parameters(module)
        decay = min(0.9, (1 + updates) / (10 + updates))
        expected = decay * expected + (1 - decay) * value
        torch.testing.assert_close(ema.module.weight, torch.full((1, 2), expected))
    assert warmup_decay(0.995, 0) == 0.1 and warmup_decay(0.995, 10_000) == 0.995


@pytest.mark.slow
def test_cli_dry_run_of_a_resume_shows_the_runs_own_config(tmp_path):
    train(tiny(rule="hebb", train_steps=1), out=tmp_path / "run", progress=False)
    result = runner.invoke(
        app,
        ["train", "--dry-run", "--resume", "--train-steps", "9", "--out", str(tmp_path / "run")],
    )
    assert result.exit_code == 0, result.output
    assert 'rule = "hebb"' in result.output and "train_steps = 9" in result.output


@pytest.mark.slow
def test_a_run_that_fails_to_start_leaves_the_folder_untouched(tmp_path):
    result = runner.invoke(
        app, ["train", "--out", str(tmp_path / "run"), "--image-size", "20", "--quiet"]
    )
    assert result.exit_code == 2
    assert not (tmp_path / "run").exists()
    train(tiny(train_steps=1), out=tmp_path / "run", progress=False)
    before = (tmp_path / "run" / "checkpoints" / "latest.pt").read_bytes()
    result = runner.invoke(
        app,
        ["train", "--out", str(tmp_path / "run"), "--overwrite", "--discriminator", "nope"],
    )
    assert result.exit_code == 2
    assert (tmp_path / "run" / "checkpoints" / "latest.pt").read_bytes() == before


def recurrent_widths(painter) -> tuple[int, int]:
    """An LSTM's or Transformer's (hidden width, numbers read from the latent per step)."""
    return painter.out_features, painter.inputs.expand.out_features // 4


def mlp_widths(painter) -> tuple[int, int]:
    """The MLP painter's (hidden width, numbers per step): its first layer, its features."""
    return painter.net[0].out_features, painter.out_features


@pytest.mark.slow
@pytest.mark.parametrize(
    ("painter", "widths"),
    [("lstm", recurrent_widths), ("transformer", recurrent_widths), ("mlp", mlp_widths)],
)
def test_the_default_painter_options_fit_every_built_in_painter(tmp_path, painter, widths):
    defaults = TrainConfig().generator.painter_options
    config = tiny(painter=painter, painter_options=defaults, train_steps=1)
    assert train(config, out=tmp_path / painter, progress=False).step == 1
    # Taken, not merely accepted: the run keeps the options and its painter is built from them,
    # hidden_size wide and reading code_size numbers per step (neither is the painter's default).
    state = load_checkpoint(tmp_path / painter / "checkpoints" / "latest.pt")
    assert state["config"]["generator"]["painter"] == painter
    assert state["config"]["generator"]["painter_options"] == defaults
    generator = fpa.load(tmp_path / painter)
    assert widths(generator.painter) == (defaults["hidden_size"], defaults["code_size"])
    images = generator(torch.randn(2, 8))
    assert images.shape == (2, 1, 16, 16) and torch.isfinite(images).all()


@pytest.mark.slow
def test_resume_survives_a_metrics_line_cut_short_by_a_crash(tmp_path):
    train(tiny(train_steps=2), out=tmp_path / "run", progress=False)
    with (tmp_path / "run" / "metrics.jsonl").open("a") as file:
        file.write('{"step": 3, "loss')
    result = train(out=tmp_path / "run", resume=True, train_steps=3, progress=False)
    assert result.step == 3
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3]


@pytest.mark.slow
def test_nan_recovery_keeps_the_metrics_log_in_step_order_and_the_count_survives_resume(
    tmp_path,
):
    NanOnCall.calls, NanOnCall.poisoned = 0, {8}  # step 3's discriminator pass
    with plugged_in(NanPlugin(), name="nan-plugin"):
        train(tiny(rule="nan-on-call", train_steps=4), out=tmp_path / "run", progress=False)
        records = [
            json.loads(line)
            for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
        ]
        steps = [r["step"] for r in records if "event" not in r]
        assert steps == sorted(set(steps)) == [1, 2, 3, 4]
        trainer = prepare_run(None, out=tmp_path / "run", resume=True, changes={"train_steps": 5})
        assert trainer.state.nan_restarts == 1


def test_wrongly_typed_options_are_one_line_errors(tmp_path):
    for args, message in (
        (["--set", "lr=abc"], "lr must be float"),
        (["--set", "batch_size=2.5"], "batch_size must be int"),
        (["--set", "painter_options={hidden_size=0}"], "painter 'lstm' cannot be built"),
    ):
        result = runner.invoke(app, ["train", "--dry-run", "--out", str(tmp_path / "r"), *args])
        assert result.exit_code == 2, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (args, result.output)


def test_a_second_interrupt_is_one_line_and_exit_code_130(tmp_path, monkeypatch):
    import fpa.training

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(fpa.training, "train", interrupted)
    result = runner.invoke(app, ["train", "--out", str(tmp_path / "run")])
    assert result.exit_code == 130
    assert result.output.strip() == "interrupted"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_resolves_and_builds(name):
    config = resolve_config(preset_name=name)
    # The preset's choices are taken as written; every other option keeps its default.
    resolved, defaults = config.settings(), TrainConfig().settings()
    for key, value in resolved.items():
        assert value == PRESETS[name].get(key, defaults[key]), key
    # Its generator paints images of the preset's shape and its discriminator scores them.
    generator = config.build_generator().eval()
    discriminator = fpa.build_discriminator(
        config.discriminator,
        image_size=config.image_size,
        channels=config.channels,
        **config.discriminator_options,
    ).eval()
    with torch.no_grad():
        images = generator(torch.randn(2, config.latent_dim))
        logits = discriminator(images).logits
    assert images.shape == (2, config.channels, *config.image_size)
    assert torch.isfinite(images).all() and logits.shape == (2,)
    sizes = describe(config)
    assert sizes["generator"] == sum(p.numel() for p in generator.parameters())
    assert sizes["discriminator"] == sum(p.numel() for p in discriminator.parameters())


def test_fpa_64_is_the_paper_recipe_with_our_changes():
    paper = resolve_config(preset_name="paper-64").settings()
    ours = resolve_config(preset_name="fpa-64").settings()
    changed = {key for key in paper if paper[key] != ours[key]}
    assert changed == {
        "rate_activation",
        "learned_canvas",
        "normalize_features",
        "diversity_weight",
        "betas",
        "strokes",
        "colour_basis",
    }
    assert (paper["rate_activation"], ours["rate_activation"]) == ("sigmoid", "softplus")
    assert (paper["strokes"], ours["strokes"]) == ("per-channel", "coloured")
    assert (paper["colour_basis"], ours["colour_basis"]) == ("direct", "ycbcr")
    emoji = resolve_config(preset_name="cpu-emoji")
    assert (emoji.data, emoji.channels, emoji.generator.strokes) == ("emoji", 3, "coloured")
    assert emoji.generator.colour_basis == "ycbcr"


def test_cpu_emoji_64_is_cpu_emoji_at_64_with_its_scale_rate_and_budget_and_no_augmentation():
    at_32 = resolve_config(preset_name="cpu-emoji").settings()
    at_64 = resolve_config(preset_name="cpu-emoji-64").settings()
    changed = {key: at_64[key] for key in at_32 if at_32[key] != at_64[key]}
    assert changed == {
        "image_size": [64, 64],
        "stroke_scale": 2,
        "lr": 2e-4,
        "lr_refiner": 0.0,
        "augment": "off",
        "train_steps": 1200,
    }
