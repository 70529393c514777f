"""Training throughput (images/s) of a preset with ``rule_impl`` parallel against step.

    python benchmarks/train.py                         # cpu-demo, both rule_impl, side by side
    python benchmarks/train.py --preset paper-64 --data emoji --device cuda --precision bf16
    python benchmarks/train.py --preset paper-64 --device cuda --precision fp32,bf16 --compile on

Each configuration trains ``--warmup`` steps, then ``--steps`` timed steps (one D and one G
update each, as in ``fpa train``); the figure is batch size × steps / time. With ``--json`` the
file is rewritten after every configuration, so a run cut short by a timeout keeps what it
measured.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch
from rich.console import Console
from rich.table import Table

from fpa.training import prepare_run, resolve_config


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(config, *, warmup: int, steps: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        trainer = prepare_run(config, out=folder)
        trainer.generator.train()
        for _ in range(warmup):
            trainer.discriminator_step()
            trainer.generator_step()
            trainer.step += 1
        synchronize(trainer.device)
        started = time.perf_counter()
        for _ in range(steps):
            trainer.discriminator_step()
            trainer.generator_step()
            trainer.step += 1
        synchronize(trainer.device)
        seconds = time.perf_counter() - started
    return config.batch_size * config.grad_accum * steps / seconds


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
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    device = torch.device("cuda" if args.device != "cpu" and torch.cuda.is_available() else "cpu")
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else (f"CPU, {torch.get_num_threads()} threads")
    )
    rows = []
    for compiled in filter(None, args.compile.split(",")):
        for precision in filter(None, args.precision.split(",")):
            for impl in args.impls.split(","):
                overrides = {
                    "rule_impl": impl,
                    "device": args.device,
                    "precision": precision,
                    "compile": compiled == "on",
                }
                if args.data:
                    overrides["data"] = args.data
                config = resolve_config(preset_name=args.preset, overrides=overrides)
                rate = measure(config, warmup=args.warmup, steps=args.steps)
                rows.append(
                    {
                        "preset": args.preset,
                        "precision": precision,
                        "rule_impl": impl,
                        "compile": compiled == "on",
                        "images_per_s": rate,
                    }
                )
                if args.json:
                    with open(args.json, "w") as file:
                        json.dump({"device": name, "results": rows}, file, indent=2)
    table = Table(title=f"training images/s, {args.preset} ({name}), {args.steps} timed steps")
    for column in ("precision", "rule_impl", "compile", "images/s", "vs step"):
        table.add_column(column, justify="right")
    for row in rows:
        step = next(
            (
                r
                for r in rows
                if r["precision"] == row["precision"]
                and r["compile"] == row["compile"]
                and r["rule_impl"] == "step"
            ),
            None,
        )
        ratio = f"{row['images_per_s'] / step['images_per_s']:.2f}×" if step else "-"
        table.add_row(
            row["precision"],
            row["rule_impl"],
            "on" if row["compile"] else "off",
            f"{row['images_per_s']:.1f}",
            ratio,
        )
    Console().print(table)


if __name__ == "__main__":
    main()
