"""``fpa train``: compose a rule, a painter, a discriminator and a refiner by name and train.

``torchrun --nproc-per-node N -m fpa train ...`` runs the same command on N processes that
train one model together (docs/scale-out.md); only rank 0 prints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from fpa.cli.app import INTERRUPTED, command
from fpa.cli.options import parse_image_size
from fpa.errors import ConfigError

if TYPE_CHECKING:
    from fpa.training import ResolvedRun, TrainResult


@command("train")
def train_command(
    rule: str = typer.Option(None, help="Learning rule (see `fpa plugins`)."),
    painter: str = typer.Option(None, help="Painter (controller)."),
    discriminator: str = typer.Option(None, help="Discriminator."),
    refiner: str = typer.Option(None, help="Refiner (identity: none)."),
    baseline: str = typer.Option(
        None, help="Train a conventional baseline generator (e.g. conv) instead: not a painter."
    ),
    data: str = typer.Option(None, help="mnist, emoji, a torchvision set, or an image folder."),
    data_root: str = typer.Option(None, help="Where torchvision sets live."),
    download: bool = typer.Option(None, "--download", help="Allow torchvision downloads."),
    image_size: str = typer.Option(None, help="32 or HxW such as 32x48."),
    channels: int = typer.Option(None, help="1, 3 or 4 colour channels."),
    paint_steps: int = typer.Option(None, help="T: rank-1 updates per image."),
    updates_per_step: int = typer.Option(
        None, help="Rank-1 updates per controller step (divides T; the controller runs T/U)."
    ),
    strokes: str = typer.Option(
        None, help="per-channel, shared-key or coloured (one coloured rank-1 stroke per step)."
    ),
    colour_basis: str = typer.Option(
        None, help="Colour basis painted in: direct, ycbcr (luminance, chroma) or learned."
    ),
    latent_dim: int = typer.Option(None, help="Latent size."),
    rule_impl: str = typer.Option(None, help="parallel (default) or step (the loop)."),
    train_steps: int = typer.Option(None, help="Optimiser steps to train for."),
    batch_size: int = typer.Option(None, help="Images per step, over all processes."),
    grad_accum: int = typer.Option(None, help="Micro-batches accumulated per step."),
    lr: float = typer.Option(None, help="Adam learning rate (G and D)."),
    seed: int = typer.Option(None, help="Seed for weights, data order and latents."),
    device: str = typer.Option(None, help="auto, cpu or cuda."),
    threads: int = typer.Option(
        None,
        help="CPU threads (default: one per core; give each of N runs sharing a machine cores/N).",
    ),
    precision: str = typer.Option(None, help="fp32, bf16 or fp16 (fp16: CUDA only)."),
    compile_models: bool = typer.Option(
        None, "--compile", help="torch.compile G and D (falls back, with a warning)."
    ),
    sample_every: int = typer.Option(None, help="Write an EMA sample grid every N steps."),
    eval_every: int = typer.Option(
        None, help="Measure FID/KID every N steps; keeps checkpoints/best.pt (0: never)."
    ),
    eval_n: int = typer.Option(None, help="Images per FID/KID measurement."),
    eval_features: str = typer.Option(None, help="Feature extractor (default: the data's)."),
    checkpoint_every: int = typer.Option(None, help="Write a checkpoint every N steps."),
    init_from: Path = typer.Option(
        None, help="Start from this trained run or checkpoint (its painter and discriminator)."
    ),
    freeze_painter: bool = typer.Option(
        None, "--freeze-painter", help="Train only the refiner, on the frozen painter."
    ),
    reset_discriminator: bool = typer.Option(
        None, "--reset-discriminator", help="With --init-from: a fresh discriminator."
    ),
    conditional: bool = typer.Option(
        None,
        "--conditional",
        help="Paint the class asked for: G(z, y) and a projection D on the data's classes.",
    ),
    out: Path = typer.Option(Path("runs/fpa"), help="Run directory."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the run in --out."),
    config: Path = typer.Option(None, help="TOML file of training options."),
    preset: str = typer.Option(
        None,
        help="cpu-demo, cpu-demo-512, cpu-emoji, cpu-emoji-64, paper-64 or fpa-64. Default: "
        "cpu-emoji for 3 channels or --data emoji, cpu-demo otherwise.",
    ),
    set_option: list[str] = typer.Option(
        None, "--set", help="Any other option as KEY=VALUE (TOML value), e.g. --set betas=[0.5,0.9]"
    ),
    time_budget: float = typer.Option(
        None,
        "--time-budget",
        help="Stop with a checkpoint after this many seconds of training (--resume goes on).",
    ),
    quiet: bool = typer.Option(None, "--quiet", help="Plain log lines instead of a progress bar."),
    log: str = typer.Option(
        None,
        "--log",
        help="Loggers, comma list: jsonl (always on), tensorboard, wandb (see `fpa plugins`).",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print config and model sizes only."),
) -> None:
    """Train a fast weight painter as a GAN (CUDA when present, CPU otherwise)."""
    from fpa.devices import use_threads
    from fpa.training import RunRequest, World, check_time_budget, decide_run, train

    check_time_budget(time_budget)  # --dry-run checks it too
    use_threads(threads)
    main_process = World.from_env().is_main

    flags = {
        "rule": rule,
        "painter": painter,
        "discriminator": discriminator,
        "refiner": refiner,
        "baseline": baseline,
        "data": data,
        "data_root": data_root,
        "download": download,
        "image_size": parse_image_size(image_size) if image_size else None,
        "channels": channels,
        "paint_steps": paint_steps,
        "updates_per_step": updates_per_step,
        "strokes": strokes,
        "colour_basis": colour_basis,
        "latent_dim": latent_dim,
        "rule_impl": rule_impl,
        "train_steps": train_steps,
        "batch_size": batch_size,
        "grad_accum": grad_accum,
        "lr": lr,
        "seed": seed,
        "device": device,
        "precision": precision,
        "compile": compile_models,
        "sample_every": sample_every,
        "eval_every": eval_every,
        "eval_n": eval_n,
        "eval_features": eval_features,
        "checkpoint_every": checkpoint_every,
        "quiet": quiet,
        "loggers": logger_names(log) if log is not None else None,
        "init_from": str(init_from) if init_from else None,
        "freeze_painter": freeze_painter,
        "reset_discriminator": reset_discriminator,
        "conditional": conditional,
    }
    changes: dict[str, Any] = {key: value for key, value in flags.items() if value is not None}
    changes.update(parse_set_options(set_option or []))
    request = RunRequest.read(
        preset_name=preset, config_file=str(config) if config else None, overrides=changes
    )
    console = Console(stderr=True, markup=False)  # paths and names are the user's text
    if dry_run:
        resolved = decide_run(request, resume_from=out if resume else None)
        if main_process:
            show_dry_run(console, resolved)
        return
    result = train(
        request,
        out=out,
        resume=resume,
        overwrite=overwrite,
        time_budget=time_budget,
        on_start=lambda run: say_decided(console, run),
    )
    say_result(console, result, out=out, main_process=main_process)


def show_dry_run(console: Console, resolved: ResolvedRun) -> None:
    """What ``--dry-run`` prints: why each inferred value was chosen, the config as TOML, and
    the model sizes and what will paint as JSON."""
    from fpa.training import describe, painting

    report = {"parameters": describe(resolved.config), **painting(resolved.config)}
    for line in resolved.lines():  # once the models are sized: a refusal stays one line
        console.print(line, highlight=False, soft_wrap=True)
    console.print(resolved.config.to_toml(), highlight=False, markup=False)
    console.print(json.dumps(report, indent=2), highlight=False)


def say_decided(console: Console, resolved: ResolvedRun) -> None:
    """Once the run has started (a refusal stays one line): why each inferred value was
    chosen, and a note on what paints."""
    from fpa.training import painting

    for line in resolved.lines():
        console.print(line, highlight=False, soft_wrap=True)
    note = painting(resolved.config).get("note")
    if note:
        console.print(f"note: {note}", highlight=False)


def say_result(console: Console, result: TrainResult, *, out: Path, main_process: bool) -> None:
    """How the run ended, with the command that continues it; exit 130 when interrupted."""
    if result.status == "interrupted":
        if main_process:
            console.print(
                f"stopped at step {result.step}; checkpoint saved. Continue with: "
                f"fpa train --out {out} --resume",
                highlight=False,
                soft_wrap=True,  # the command stays on one line, to be copied (also from a log)
            )
        raise typer.Exit(code=INTERRUPTED)
    if not main_process:
        return
    if result.status == "already_finished":
        console.print(
            f"the run in {out} already finished at step {result.step}; to train it further: "
            f"fpa train --out {out} --resume --train-steps {2 * result.step or 1}",
            highlight=False,
            soft_wrap=True,
        )
        return
    if result.status == "budget":
        console.print(
            f"time budget reached at step {result.step} ({result.elapsed_seconds:.0f} s of "
            f"training); checkpoint saved. Continue with: fpa train --out {out} --resume",
            highlight=False,
            soft_wrap=True,
        )
        return
    console.print(
        f"done: {result.step} steps in {result.elapsed_seconds:.0f} s "
        f"({result.images_per_second:.0f} img/s at the end); samples in {out}/samples",
        highlight=False,
    )


def logger_names(text: str) -> list[str]:
    """``jsonl,tensorboard`` as logger names; an empty name is refused."""
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise ConfigError(f"--log takes a comma list of logger names; got {text!r}")
    return names


def parse_set_options(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs whose values are read as TOML (strings may go unquoted)."""
    from fpa.runs.config import tomllib

    parsed: dict[str, Any] = {}
    for item in items:
        key, separator, text = item.partition("=")
        if not separator or not key.strip():
            raise ConfigError(f"--set takes KEY=VALUE; got {item!r}")
        try:
            value = tomllib.loads(f"value = {text}")["value"]
        except tomllib.TOMLDecodeError:
            value = text
        parsed[key.strip()] = value
    return parsed
