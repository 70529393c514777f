"""``fpa train``: compose a rule, a painter, a discriminator and a refiner by name and train.

``torchrun --nproc-per-node N -m fpa train ...`` runs the same command on N processes that
train one model together (docs/scale-out.md); only rank 0 prints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from fpa.cli.app import INTERRUPTED, command
from fpa.cli.options import parse_image_size, parse_set_options, takes_options
from fpa.errors import ConfigError

if TYPE_CHECKING:
    from fpa.training import ResolvedRun, RunRequest, TrainResult


@dataclass(frozen=True, kw_only=True)
class TrainOptions:
    """``fpa train``'s options, declared once. A field named as a training setting
    (:data:`~fpa.runs.config.SETTING_NAMES`) is that setting, given when not None."""

    rule: Annotated[str | None, typer.Option(help="Learning rule (see `fpa plugins`).")] = None
    painter: Annotated[str | None, typer.Option(help="Painter (controller).")] = None
    discriminator: Annotated[str | None, typer.Option(help="Discriminator.")] = None
    refiner: Annotated[str | None, typer.Option(help="Refiner (identity: none).")] = None
    baseline: Annotated[
        str | None,
        typer.Option(
            help="Train a conventional baseline generator (e.g. conv) instead: not a painter."
        ),
    ] = None
    data: Annotated[
        str | None, typer.Option(help="mnist, emoji, a torchvision set, or an image folder.")
    ] = None
    data_root: Annotated[str | None, typer.Option(help="Where torchvision sets live.")] = None
    download: Annotated[
        bool | None, typer.Option("--download", help="Allow torchvision downloads.")
    ] = None
    image_size: Annotated[str | None, typer.Option(help="32 or HxW such as 32x48.")] = None
    channels: Annotated[int | None, typer.Option(help="1, 3 or 4 colour channels.")] = None
    paint_steps: Annotated[int | None, typer.Option(help="T: rank-1 updates per image.")] = None
    updates_per_step: Annotated[
        int | None,
        typer.Option(
            help="Rank-1 updates per controller step (divides T; the controller runs T/U)."
        ),
    ] = None
    strokes: Annotated[
        str | None,
        typer.Option(
            help="per-channel, shared-key or coloured (one coloured rank-1 stroke per step)."
        ),
    ] = None
    colour_basis: Annotated[
        str | None,
        typer.Option(help="Colour basis painted in: direct, ycbcr (luminance, chroma) or learned."),
    ] = None
    latent_dim: Annotated[int | None, typer.Option(help="Latent size.")] = None
    rule_impl: Annotated[
        str | None, typer.Option(help="parallel (default) or step (the loop).")
    ] = None
    train_steps: Annotated[int | None, typer.Option(help="Optimiser steps to train for.")] = None
    batch_size: Annotated[int | None, typer.Option(help="Images per step, over all processes.")] = (
        None
    )
    grad_accum: Annotated[int | None, typer.Option(help="Micro-batches accumulated per step.")] = (
        None
    )
    lr: Annotated[float | None, typer.Option(help="Adam learning rate (G and D).")] = None
    seed: Annotated[int | None, typer.Option(help="Seed for weights, data order and latents.")] = (
        None
    )
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda.")] = None
    threads: Annotated[
        int | None,
        typer.Option(
            help="CPU threads (default: one per core; give each of N runs sharing a machine "
            "cores/N)."
        ),
    ] = None
    precision: Annotated[str | None, typer.Option(help="fp32, bf16 or fp16 (fp16: CUDA only).")] = (
        None
    )
    compile: Annotated[
        bool | None,
        typer.Option("--compile", help="torch.compile G and D (falls back, with a warning)."),
    ] = None
    sample_every: Annotated[
        int | None, typer.Option(help="Write an EMA sample grid every N steps.")
    ] = None
    eval_every: Annotated[
        int | None,
        typer.Option(help="Measure FID/KID every N steps; keeps checkpoints/best.pt (0: never)."),
    ] = None
    eval_n: Annotated[int | None, typer.Option(help="Images per FID/KID measurement.")] = None
    eval_features: Annotated[
        str | None, typer.Option(help="Feature extractor (default: the data's).")
    ] = None
    checkpoint_every: Annotated[
        int | None, typer.Option(help="Write a checkpoint every N steps.")
    ] = None
    init_from: Annotated[
        Path | None,
        typer.Option(
            help="Start from this trained run or checkpoint (its painter and discriminator)."
        ),
    ] = None
    freeze_painter: Annotated[
        bool | None,
        typer.Option("--freeze-painter", help="Train only the refiner, on the frozen painter."),
    ] = None
    reset_discriminator: Annotated[
        bool | None,
        typer.Option("--reset-discriminator", help="With --init-from: a fresh discriminator."),
    ] = None
    conditional: Annotated[
        bool | None,
        typer.Option(
            "--conditional",
            help="Paint the class asked for: G(z, y) and a projection D on the data's classes.",
        ),
    ] = None
    out: Annotated[Path, typer.Option(help="Run directory.")] = Path("runs/fpa")
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")] = False
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the run in --out.")] = (
        False
    )
    config: Annotated[Path | None, typer.Option(help="TOML file of training options.")] = None
    preset: Annotated[
        str | None,
        typer.Option(
            help="cpu-demo, cpu-demo-512, cpu-emoji, cpu-emoji-lstm, cpu-emoji-64, paper-64 or "
            "fpa-64. Default: cpu-emoji for 3 channels or --data emoji, cpu-demo otherwise."
        ),
    ] = None
    set_option: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Any other option as KEY=VALUE (TOML value), e.g. --set betas=[0.5,0.9]",
        ),
    ] = None
    time_budget: Annotated[
        float | None,
        typer.Option(
            "--time-budget",
            help="Stop with a checkpoint after this many seconds of training (--resume goes on).",
        ),
    ] = None
    quiet: Annotated[
        bool | None, typer.Option("--quiet", help="Plain log lines instead of a progress bar.")
    ] = None
    log: Annotated[
        str | None,
        typer.Option(
            "--log",
            help="Loggers, comma list: jsonl (always on), tensorboard, wandb (see `fpa plugins`).",
        ),
    ] = None
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print config and model sizes only.")
    ] = False

    def request(self) -> RunRequest:
        """The run these options ask for: the preset, the config file, and the settings given
        as flags, then ``--set``."""
        from fpa.runs.config import SETTING_NAMES
        from fpa.training import RunRequest

        given = {name: getattr(self, name) for name in SETTING_NAMES if hasattr(self, name)}
        given["image_size"] = parse_image_size(self.image_size) if self.image_size else None
        given["loggers"] = logger_names(self.log) if self.log is not None else None
        given["init_from"] = str(self.init_from) if self.init_from else None
        changes = {key: value for key, value in given.items() if value is not None}
        changes.update(parse_set_options(self.set_option or []))
        config_file = str(self.config) if self.config else None
        return RunRequest.read(preset_name=self.preset, config_file=config_file, overrides=changes)


@command("train")
@takes_options(TrainOptions)
def train_command(options: TrainOptions) -> None:
    """Train a fast weight painter as a GAN (CUDA when present, CPU otherwise)."""
    from fpa.devices import use_threads
    from fpa.training import World, check_time_budget, decide_run, train

    check_time_budget(options.time_budget)  # --dry-run checks it too
    use_threads(options.threads)
    main_process = World.from_env().is_main
    request, out = options.request(), options.out
    console = Console(stderr=True, markup=False)  # paths and names are the user's text
    if options.dry_run:
        resolved = decide_run(request, resume_from=out if options.resume else None)
        if main_process:
            show_dry_run(console, resolved)
        return
    result = train(
        request,
        out=out,
        resume=options.resume,
        overwrite=options.overwrite,
        time_budget=options.time_budget,
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
