"""Where a training step spends its time: torch.profiler over a preset's D and G updates.

    python benchmarks/profile_step.py                          # cpu-demo, 8 steps
    python benchmarks/profile_step.py --preset paper-64 --data emoji --steps 8 --batch-size 20
    python benchmarks/profile_step.py --device cuda --preset paper-64 --data emoji

The training loop names each phase of a step as a profiler range (``fpa/D: fakes``,
``fpa/D: loss, R1, backward``, ``fpa/G: forward`` ...). The first table gives each phase's
time per run and per step, and its share of the step's wall time; R1 runs every
``reg_every`` steps, so its phase runs 0.25 times per step at ``reg_every = 4``. The second
table lists the operators with the most self time. On CUDA the times are the GPU's.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from rich.console import Console
from rich.table import Table
from torch.profiler import ProfilerActivity, profile
from train import synchronize, train_steps  # benchmarks/train.py

from fpa.training import prepare_run, resolve_config

PHASE_PREFIX = "fpa/"


def event_time_us(event, *, cuda: bool, own: bool = False) -> float:
    """The event's time in microseconds: the GPU's on CUDA, the CPU's otherwise."""
    if cuda:
        return event.self_device_time_total if own else event.device_time_total
    return event.self_cpu_time_total if own else event.cpu_time_total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu-demo")
    parser.add_argument("--data", default=None, help="override the preset's dataset")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8, help="profiled steps (a multiple of 4)")
    parser.add_argument("--operators", type=int, default=12, help="rows of the operator table")
    args = parser.parse_args()

    overrides = {"device": args.device, "quiet": True, "eval_every": 0}
    overrides |= {"data": args.data} if args.data else {}
    overrides |= {"batch_size": args.batch_size} if args.batch_size else {}
    config = resolve_config(preset_name=args.preset, overrides=overrides)
    console = Console()
    with tempfile.TemporaryDirectory() as folder:
        trainer = prepare_run(config, out=folder)
        cuda = trainer.device.type == "cuda"
        trainer.generator.train()
        train_steps(trainer, args.warmup)
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        with profile(activities=activities) as profiler:
            started = time.perf_counter()
            train_steps(trainer, args.steps)
            synchronize(trainer.device)
            wall_us = (time.perf_counter() - started) * 1e6
    events = profiler.key_averages()
    per_step_ms = wall_us / args.steps / 1e3
    threads = torch.get_num_threads()
    title = (
        f"{args.preset} on {trainer.device} ({threads} threads), batch {config.batch_size}: "
        f"{per_step_ms:.1f} ms per step, {config.batch_size / per_step_ms * 1e3:.0f} images/s"
    )
    phases = Table(title=title)
    for name in ("phase", "runs per step", "ms per run", "ms per step", "share of the step"):
        phases.add_column(name, justify="left" if name == "phase" else "right")
    for event in sorted(
        (e for e in events if e.key.startswith(PHASE_PREFIX)),
        key=lambda e: -event_time_us(e, cuda=cuda),
    ):
        spent = event_time_us(event, cuda=cuda)
        phases.add_row(
            event.key,
            f"{event.count / args.steps:.2f}",
            f"{spent / event.count / 1e3:.1f}",
            f"{spent / args.steps / 1e3:.1f}",
            f"{spent / wall_us:.0%}",
        )
    console.print(phases)

    operators = Table(title="operators by self time")
    for name in ("operator", "calls per step", "ms per step", "share of the step"):
        operators.add_column(name, justify="left" if name == "operator" else "right")
    ranked = sorted(
        (e for e in events if not e.key.startswith(PHASE_PREFIX)),
        key=lambda e: -event_time_us(e, cuda=cuda, own=True),
    )
    for event in ranked[: args.operators]:
        spent = event_time_us(event, cuda=cuda, own=True)
        operators.add_row(
            event.key,
            f"{event.count / args.steps:.1f}",
            f"{spent / args.steps / 1e3:.2f}",
            f"{spent / wall_us:.1%}",
        )
    console.print(operators)


if __name__ == "__main__":
    main()
