"""Scale-out: torchrun/DDP training on two CPU processes (gloo), data sharding, resume on another
number of processes, --compile's fallback, and the bad inputs of a distributed run."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import fpa
from conftest import requires_cuda
from fpa.cli import app
from fpa.data import InfiniteBatches
from fpa.runs.checkpoint import load_checkpoint
from fpa.training import World, compiling, prepare_run, train
from fpa.training.distributed import unused_parameters
from fpa.training.losses import DiscriminatorLoss
from fpa.training.precision import check_precision
from tiny_runs import tiny

WORKER = Path(__file__).with_name("distributed_worker.py")
runner = CliRunner()


def torchrun(*arguments: str, nproc: int = 2, dump: Path) -> subprocess.CompletedProcess:
    """Start ``tests/distributed_worker.py`` on ``nproc`` CPU processes through torchrun."""
    dump.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FPA_TEST_DUMP": str(dump)}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node", str(nproc), str(WORKER), *arguments]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def assert_same_weights(left: dict, right: dict, **tolerance) -> None:
    assert left.keys() == right.keys()
    for name, tensor in left.items():
        if tolerance:
            torch.testing.assert_close(tensor, right[name], **tolerance, msg=name)
        else:
            assert torch.equal(tensor, right[name]), name


def metric_steps(run: Path) -> list[int]:
    records = map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
    return [r["step"] for r in records if "loss_d" in r]


@pytest.mark.slow
def test_two_processes_continue_a_run_as_one_model_and_one_process_resumes_it(tmp_path):
    # One process trains 2 steps; two processes resume to step 4 (rank 0 reads the checkpoint
    # and sends it to rank 1, which has no saved random state and draws fresh streams); then
    # one process resumes from the two-process checkpoint to step 6.
    run = tmp_path / "run"
    train(tiny(train_steps=2), out=run, progress=False)
    done = torchrun("train", "--out", str(run), "--resume", "--train-steps", "4", dump=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("done: 4 steps") == 1  # only rank 0 prints
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    assert ranks[0]["step"] == ranks[1]["step"] == 4
    state = load_checkpoint(run / "checkpoints" / "latest.pt")
    assert state["step"] == 4 and state["world_size"] == 2 and len(state["rank_random"]) == 1
    for part in ("generator", "discriminator", "ema_generator"):
        assert_same_weights(ranks[0][part], ranks[1][part])
        assert_same_weights(state[part], ranks[0][part])  # the plain modules, no "module."
    assert metric_steps(run) == [1, 2, 3, 4]  # each step logged once: by rank 0 alone
    checkpoints = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert checkpoints == ["latest.pt", "step_000002.pt", "step_000004.pt"]

    resumed = train(out=run, resume=True, train_steps=6, progress=False)
    assert resumed.step == 6 and metric_steps(run) == [1, 2, 3, 4, 5, 6]
    single = load_checkpoint(run / "checkpoints" / "latest.pt")
    assert single["world_size"] == 1 and single["rank_random"] == []
    assert not torch.equal(single["generator"]["canvas"], state["generator"]["canvas"])
    assert fpa.load(run)(torch.randn(2, 8)).shape == (2, 1, 16, 16)


def test_ranks_start_from_the_same_weights_and_draw_their_own_randomness(tmp_path):
    # Ranks of a world that is not launched run no collectives: each is a lone trainer that
    # takes its share of the batch and its own random streams, as under torchrun.
    config = tiny()
    ranks = [
        prepare_run(config, out=tmp_path / str(r), world=World(rank=r, size=2)) for r in (0, 1)
    ]
    assert (tmp_path / "0").is_dir() and not (tmp_path / "1").exists()
    assert_same_weights(ranks[0].generator.state_dict(), ranks[1].generator.state_dict())
    assert_same_weights(ranks[0].discriminator.state_dict(), ranks[1].discriminator.state_dict())
    first = [trainer.latents() for trainer in ranks]
    assert first[0].shape == (4, 8) and not torch.equal(first[0], first[1])

    # The same number of processes: each rank gets its own streams back, so a resume is exact.
    state = ranks[0].state.checkpoint(rank_random=[ranks[1].state.random_streams()])
    following = [trainer.latents() for trainer in ranks]
    for trainer in ranks:
        trainer.state.load(state)
    assert all(torch.equal(t.latents(), f) for t, f in zip(ranks, following, strict=True))

    # A rank that the saving run did not have (it ran alone) draws fresh streams, reproducibly.
    alone = ranks[0].state.checkpoint()
    ranks[1].state.load(alone)
    fresh = ranks[1].latents()
    assert not any(torch.equal(fresh, seen) for seen in (*first, *following))
    ranks[1].state.load(alone)
    assert torch.equal(ranks[1].latents(), fresh)


@pytest.mark.slow
def test_a_step_on_two_processes_equals_a_step_on_one_with_the_whole_batch(tmp_path):
    # Deterministic apart from the split: no augmentation, no mode-seeking pairs; lightgan has
    # an auxiliary head, a decoder for reals and (on step 0) the gradient penalty.
    config = tiny(discriminator="lightgan", augment="off", diversity_weight=0.0)
    (tmp_path / "step.toml").write_text(config.to_toml())
    latents = torch.randn(config.batch_size, config.latent_dim)
    torch.save(latents, tmp_path / "latents.pt")
    done = torchrun(
        "step",
        str(tmp_path / "step.toml"),
        str(tmp_path / "two"),
        str(tmp_path / "latents.pt"),
        dump=tmp_path / "dump",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(tmp_path / "dump" / f"rank{r}.pt") for r in (0, 1)]

    single = prepare_run(config, out=tmp_path / "one")
    single.latents = lambda: latents
    single.generator.train()
    assert "penalty" in single.discriminator_step()
    single.generator_step()
    for part, module in (("generator", single.generator), ("discriminator", single.discriminator)):
        assert_same_weights(ranks[0][part], ranks[1][part])
        # DDP's averaged gradients are the whole batch's, up to float rounding. (The weights
        # after Adam are not compared: Adam's first step is about lr·sign(gradient), which
        # rounding flips where a gradient is near zero.)
        expected = {n: p.grad for n, p in module.named_parameters()}
        averaged = ranks[0][part + "_grad"]
        assert averaged.keys() == expected.keys()
        for name, gradient in expected.items():
            error = (averaged[name] - gradient).abs().max()
            assert error <= 1e-5 * gradient.abs().max() + 1e-9, name
        initial = initial_weights(config, part)
        assert any(not torch.equal(initial[k], v) for k, v in ranks[0][part].items()), part


def initial_weights(config, part: str) -> dict:
    """The weights a run of ``config`` starts from (the step above must have moved them)."""
    torch.manual_seed(config.seed)
    generator = fpa.FastWeightPainter(config=config.generator)
    discriminator = fpa.build_discriminator(
        config.discriminator, image_size=config.image_size, channels=config.channels
    )
    return (generator if part == "generator" else discriminator).state_dict()


class Numbers(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 20

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.tensor([index])


def take(batches: InfiniteBatches, count: int) -> list[list[int]]:
    return [next(batches).flatten().tolist() for _ in range(count)]


def test_ranks_read_slices_of_the_global_batch_and_resume_on_another_world_size():
    single = InfiniteBatches(Numbers(), batch_size=6, seed=3)
    expected = take(single, 7)  # 3 batches per epoch: crosses two epoch boundaries
    for size in (2, 3):
        ranks = [
            InfiniteBatches(Numbers(), batch_size=6, seed=3, rank=r, world_size=size)
            for r in range(size)
        ]
        shards = [take(batches, 7) for batches in ranks]
        joined = [[i for part in parts for i in part] for parts in zip(*shards, strict=True)]
        assert joined == expected
        assert all(b.state_dict() == single.state_dict() for b in ranks)
    two = [InfiniteBatches(Numbers(), batch_size=6, seed=3, rank=r, world_size=2) for r in (0, 1)]
    for batches in two:
        take(batches, 4)
    one = InfiniteBatches(Numbers(), batch_size=6, seed=3)
    one.load_state_dict(two[0].state_dict())
    assert take(one, 3) == expected[4:7]
    with pytest.raises(fpa.ConfigError, match="split evenly"):
        InfiniteBatches(Numbers(), batch_size=6, seed=3, rank=0, world_size=4)


def test_a_batch_that_does_not_split_over_the_processes_is_one_line_and_exit_code_2(
    tmp_path, monkeypatch
):
    # The check runs before joining the process group, so no other rank needs to exist.
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("LOCAL_RANK", "0")
    result = runner.invoke(
        app, ["train", "--out", str(tmp_path / "run"), "--batch-size", "8", "--quiet"]
    )
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "split evenly" in lines[0]
    assert "multiple of 3 such as 6 or 9" in lines[0]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"WORLD_SIZE": "2"}, "lacks RANK"),
        ({"WORLD_SIZE": "2", "RANK": "two"}, "must be integers"),
        ({"WORLD_SIZE": "2", "RANK": "2"}, "does not fit"),
    ],
)
def test_a_broken_torchrun_environment_is_a_clear_error(environ, message):
    with pytest.raises(fpa.ConfigError, match=message):
        World.from_env(environ)
    assert World.from_env({}) == World()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_device_cuda_without_cuda_is_one_line_and_exit_code_2(tmp_path):
    result = runner.invoke(app, ["train", "--out", str(tmp_path / "run"), "--device", "cuda"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "no CUDA device is available" in lines[0]


def test_bf16_on_a_gpu_without_bf16_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Old GPU")
    with pytest.raises(fpa.ConfigError, match="Old GPU has no bf16"):
        check_precision("bf16", torch.device("cuda", 0))
    check_precision("bf16", torch.device("cpu"))


def test_mode_seeking_needs_two_samples_per_process(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "4")
    with pytest.raises(fpa.ConfigError, match="diversity_weight pairs samples"):
        train(tiny(batch_size=4), out=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
@pytest.mark.parametrize("failing", ["probe", "wrap"])
def test_compile_falls_back_to_eager_with_a_warning(tmp_path, monkeypatch, failing):
    def no_compiler(*args, **kwargs):
        raise RuntimeError("no C++ compiler found")

    monkeypatch.setattr(compiling, "_probed", {} if failing == "probe" else {"cpu": None})
    monkeypatch.setattr(torch, "compile", no_compiler)
    with pytest.warns(RuntimeWarning, match="torch.compile does not work here.*no C\\+\\+"):
        result = train(tiny(compile=True, train_steps=2), out=tmp_path / "run", progress=False)
    assert result.step == 2


class Counting(nn.Module):
    """Stands in for a compiled module: delegates, and counts the calls."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self._orig_mod, self.calls = module, 0

    def forward(self, *args, **kwargs):
        self.calls += 1
        return self._orig_mod(*args, **kwargs)


@pytest.mark.slow
def test_compiled_modules_train_and_checkpoints_hold_the_plain_ones(tmp_path, monkeypatch):
    monkeypatch.setattr(compiling, "_probed", {"cpu": None})
    monkeypatch.setattr(torch, "compile", Counting)
    trainer = prepare_run(tiny(compile=True, train_steps=2), out=tmp_path / "run")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.run()
    assert not [w for w in caught if "torch.compile" in str(w.message)]
    assert trainer.modules.generator.calls > 0 and trainer.modules.judge.calls > 0
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")
    assert state["generator"].keys() == trainer.generator.state_dict().keys()
    assert not any("_orig_mod" in key for key in state["discriminator"])
    resumed = train(out=tmp_path / "run", resume=True, train_steps=3, compile=False, quiet=True)
    assert resumed.step == 3  # --compile may change on resume: the maths is the same


@pytest.mark.parametrize(
    "changes",
    [{"painter": "lstm"}, {"painter": "transformer"}, {"refiner": "unet"}],
)
def test_every_trainable_weight_of_the_generator_feeds_its_images(changes):
    generator = fpa.FastWeightPainter(config=tiny(**changes).generator)
    assert unused_parameters(generator, torch.zeros(2, 8)) == []


@pytest.mark.parametrize(("recon_weight", "unused"), [(1.0, False), (0.0, True)])
def test_the_probe_finds_the_decoder_unused_only_without_reconstruction(recon_weight, unused):
    config = tiny(discriminator="lightgan", recon_weight=recon_weight)
    discriminator = fpa.build_discriminator(
        "lightgan", image_size=(16, 16), channels=1, spectral_norm=True
    )
    loss = DiscriminatorLoss(
        discriminator=discriminator, fast=discriminator, config=config, autocast_dtype=None
    )
    before, rng = copy.deepcopy(discriminator.state_dict()), torch.get_rng_state()
    images = torch.zeros(2, 1, 16, 16)
    names = unused_parameters(loss, images, images, regularize=False)
    assert bool(names) == unused and all(".decoder." in name for name in names)
    # The probe leaves no trace: power-iteration buffers and the random state are as before.
    assert any("_u" in name for name in before)
    assert_same_weights(before, discriminator.state_dict())
    assert torch.equal(rng, torch.get_rng_state())


@requires_cuda
@pytest.mark.cuda
def test_torchrun_on_one_gpu_trains_through_nccl_in_bf16(tmp_path):
    config, run = tmp_path / "tiny.toml", tmp_path / "run"
    settings = tiny(device="cuda", precision="bf16", discriminator="lightgan")
    config.write_text(settings.to_toml())
    done = torchrun(
        "train", "--config", str(config), "--out", str(run), nproc=1, dump=tmp_path / "dump"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    state = load_checkpoint(run / "checkpoints" / "latest.pt")
    assert state["step"] == settings.train_steps and state["world_size"] == 1


@requires_cuda
@pytest.mark.cuda
def test_compile_works_on_cuda(tmp_path):
    settings = tiny(device="cuda", precision="bf16", discriminator="lightgan", compile=True)
    trainer = prepare_run(settings, out=tmp_path / "run")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = trainer.run()
    assert not [w for w in caught if "does not work here" in str(w.message)]
    assert result.step == settings.train_steps
    assert isinstance(trainer.modules.generator, torch._dynamo.eval_frame.OptimizedModule)
    saved = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")
    assert saved["generator"].keys() == trainer.generator.state_dict().keys()


@pytest.mark.slow
def test_two_processes_continue_a_conditional_run_with_its_labels(tmp_path):
    run = tmp_path / "run"
    train(tiny(train_steps=2, conditional=True), out=run, progress=False)
    done = torchrun("train", "--out", str(run), "--resume", "--train-steps", "4", dump=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    for part in ("generator", "discriminator", "ema_generator"):
        assert_same_weights(ranks[0][part], ranks[1][part])
    state = load_checkpoint(run / "checkpoints" / "latest.pt")
    assert state["step"] == 4 and state["generator_config"]["classes"] == list("0123456789")
    labels = torch.tensor([3, 7])
    assert fpa.load(run)(torch.randn(2, 8), labels).shape == (2, 1, 16, 16)


def test_every_weight_of_a_conditional_generator_and_discriminator_takes_part():
    config = tiny().with_overrides({"classes": ["a", "b"], "conditional": True})
    labels = torch.tensor([0, 1])
    generator = config.build_generator()
    assert unused_parameters(generator, torch.zeros(2, 8), labels) == []
    discriminator = config.build_discriminator()
    loss = DiscriminatorLoss(
        discriminator=discriminator, fast=discriminator, config=config, autocast_dtype=None
    )
    images = torch.zeros(2, 1, 16, 16)
    names = unused_parameters(loss, images, images, regularize=False, labels=(labels, labels))
    assert names == []
