"""Training throughput (images/s) of a preset with ``rule_impl`` parallel against step.

    python benchmarks/train.py                         # cpu-demo, both rule_impl, side by side
    python benchmarks/train.py --preset paper-64 --data emoji --device cuda --precision bf16
    python benchmarks/train.py --preset paper-64 --device cuda --precision fp32,bf16 --compile on
    python benchmarks/train.py --impls parallel --rounds 3 \
        --variant 'R1 every 16:reg_every=16,reg_weight=40' \
        --variant 'D width 32:discriminator_options={width=32}'

Each configuration trains ``--warmup`` steps, then ``--steps`` timed steps (one D and one G
update each, as in ``fpa train``); the figure is batch size × steps / time. Each
``--variant NAME:KEY=VALUE,...`` (TOML values, as ``fpa train --set``) is measured beside the
preset itself; ``--rounds`` measures all of them that many times in turn and keeps each one's
best, so that a machine busy with other work slows every variant alike. With ``--json`` the
file is rewritten after every configuration, so a run cut short by a timeout keeps what it
measured.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from fpa.cli.train import parse_set_options
from fpa.training import prepare_run, resolve_config


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_steps(trainer, steps: int, *, mark_steps: bool = False) -> None:
    """``steps`` training steps as ``fpa train`` takes them: one D and one G update each.

    ``mark_steps`` tells CUDA graphs (``torch.compile(mode="reduce-overhead")``) where each
    update begins, so that a replay may reuse the previous one's output memory.
    """
    for _ in range(steps):
        if mark_steps:
            torch.compiler.cudagraph_mark_step_begin()
        trainer.discriminator_step()
        if mark_steps:
            torch.compiler.cudagraph_mark_step_begin()
        trainer.generator_step()
        trainer.state.step += 1


def measure(config, *, warmup: int, steps: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        trainer = prepare_run(config, out=folder)
        trainer.generator.train()
        train_steps(trainer, warmup)
        synchronize(trainer.device)
        started = time.perf_counter()
        train_steps(trainer, steps)
        synchronize(trainer.device)
        seconds = time.perf_counter() - started
    return config.batch_size * config.grad_accum * steps / seconds


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``NAME:KEY=VALUE,KEY=VALUE`` into its name and overrides (values read as TOML)."""
    label, _, assignments = text.partition(":")
    items, depth, current = [], 0, ""
    for character in assignments:  # split on commas outside brackets and braces
        depth += (character in "[{") - (character in "]}")
        if character == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += character
    items += [current] if current else []
    return label, parse_set_options(items)


def result_rows(preset: str, settings: list, best: dict[int, float]) -> list[dict[str, Any]]:
    return [
        {
            "preset": preset,
            "variant": variant,
            "changes": changes,
            "precision": precision,
            "rule_impl": impl,
            "compile": compiled,
            "images_per_s": best[index],
        }
        for index, (variant, changes, precision, impl, compiled) in enumerate(settings)
        if index in best
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu-demo")
    parser.add_argument("--data", default=None, help="override the preset's dataset")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32", help="comma list: fp32,bf16,fp16")
    parser.add_argument("--impls", default="parallel,step")
    parser.add_argument("--compile", default="off", help="comma list: off,on (torch.compile)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1, help="measure everything N times")
    parser.add_argument(
        "--variant", action="append", help="NAME:KEY=VALUE,... measured beside the preset"
    )
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    device = torch.device("cuda" if args.device != "cpu" and torch.cuda.is_available() else "cpu")
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else (f"CPU, {torch.get_num_threads()} threads")
    )
    variants = [("preset", {})] + [parse_variant(text) for text in args.variant or []]
    settings = [
        (variant, overrides, precision, impl, compiled == "on")
        for compiled in filter(None, args.compile.split(","))
        for precision in filter(None, args.precision.split(","))
        for impl in args.impls.split(",")
        for variant, overrides in variants
    ]
    best: dict[int, float] = {}
    for _ in range(args.rounds):
        for index, (_variant, changes, precision, impl, compiled) in enumerate(settings):
            overrides = {
                "rule_impl": impl,
                "device": args.device,
                "precision": precision,
                "compile": compiled,
                **({"data": args.data} if args.data else {}),
                **changes,
            }
            config = resolve_config(preset_name=args.preset, overrides=overrides)
            rate = measure(config, warmup=args.warmup, steps=args.steps)
            best[index] = max(rate, best.get(index, 0.0))
            if args.json:
                rows = result_rows(args.preset, settings, best)
                with open(args.json, "w") as file:
                    json.dump({"device": name, "results": rows}, file, indent=2)
    rows = result_rows(args.preset, settings, best)
    title = f"training images/s, {args.preset} ({name}), best of {args.rounds} × {args.steps} steps"
    table = Table(title=title)
    for column in ("variant", "precision", "rule_impl", "compile", "images/s", "vs first"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    first = rows[0]["images_per_s"]
    for row in rows:
        table.add_row(
            row["variant"],
            row["precision"],
            row["rule_impl"],
            "on" if row["compile"] else "off",
            f"{row['images_per_s']:.1f}",
            f"{row['images_per_s'] / first:.2f}×",
        )
    Console().print(table)


if __name__ == "__main__":
    main()
