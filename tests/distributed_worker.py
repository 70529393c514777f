"""One torchrun process of the scale-out tests (``tests/test_distributed.py`` starts them).

    torchrun --nproc-per-node 2 tests/distributed_worker.py train FPA-TRAIN-ARGUMENTS...
    torchrun --nproc-per-node 2 tests/distributed_worker.py step CONFIG.toml OUT LATENTS.pt

``train`` runs ``fpa train`` as it is, except that on every rank but 0 each write to the run
folder fails loudly. ``step`` trains a single step with the given global batch of latents
(each rank takes its slice). Both save every rank's final weights to
``$FPA_TEST_DUMP/rank<RANK>.pt`` for the test to compare.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from fpa.runs import run_dir
from fpa.runs.config import TrainConfig, read_toml
from fpa.training import loop, prepare_run
from fpa.training.distributed import World

RANK = int(os.environ["RANK"])
DUMP = Path(os.environ["FPA_TEST_DUMP"])


def gradients(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}


def dump(trainer: loop.Trainer) -> None:
    """This rank's weights, EMA, last gradients and step, for the test to compare."""
    weights = {
        "generator": trainer.generator.state_dict(),
        "discriminator": trainer.discriminator.state_dict(),
        "ema_generator": trainer.state.ema.module.state_dict(),
        "generator_grad": gradients(trainer.generator),
        "discriminator_grad": gradients(trainer.discriminator),
        "step": trainer.step,
    }
    torch.save(weights, DUMP / f"rank{RANK}.pt")


def refuse_writes() -> None:
    """Make every run-folder write of this (non-zero) rank an error."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"rank {RANK} wrote to the run folder")

    for name in ("start", "write_config", "append_metrics", "truncate_metrics", "write_samples"):
        setattr(run_dir.RunDir, name, refuse)
    loop.atomic_write_bytes = refuse


def train(arguments: list[str]) -> None:
    if RANK != 0:
        refuse_writes()
    original = loop.Trainer.run

    def run_then_dump(self, **options):
        result = original(self, **options)
        dump(self)
        return result

    loop.Trainer.run = run_then_dump
    from fpa.cli import run

    sys.argv = ["fpa", "train", *arguments]
    run()


def step(config_file: str, out: str, latents_file: str) -> None:
    config = TrainConfig.from_dict(read_toml(config_file))
    latents = torch.load(latents_file)
    world = World.from_env()
    with world.joined():
        trainer = prepare_run(config, out=out, world=world)
        share = trainer.rank_batch
        trainer.latents = lambda: latents[RANK * share : (RANK + 1) * share]
        trainer.generator.train()
        trainer.discriminator_step()
        trainer.generator_step()
        trainer.state.step += 1
        dump(trainer)


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    train(rest) if command == "train" else step(*rest)
