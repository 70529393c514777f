"""``fpa ablate``: train a grid of configurations on one budget each and tabulate FID/KID."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from fpa.cli.app import command
from fpa.cli.options import parse_image_size
from fpa.cli.train import parse_set_options
from fpa.errors import ConfigError
from fpa.limits import check_eval_images


def split_list(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def parse_axis(item: str) -> tuple[str, list[Any]]:
    """``KEY=[v1, v2]`` (a TOML array) or ``KEY=v1,v2`` (each value read as TOML)."""
    from fpa.runs.config import tomllib

    key, separator, text = item.partition("=")
    if not separator or not key.strip() or not text.strip():
        raise ConfigError(f"--vary takes KEY=V1,V2 or KEY=[V1, V2]; got {item!r}")
    try:
        values = tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        values = None
    if not isinstance(values, list):
        values = [parse_set_options([f"value={part}"])["value"] for part in split_list(text)]
    return key.strip(), values


@command("ablate")
def ablate_command(
    rules: str = typer.Option(None, help="Comma list of rules, e.g. delta,hebb,oja."),
    painters: str = typer.Option(None, help="Comma list of painters, e.g. lstm,transformer."),
    paint_steps: str = typer.Option(None, help="Comma list of T, e.g. 16,32."),
    vary: list[str] = typer.Option(
        None, help="Any other axis: KEY=V1,V2 or KEY=[V1,V2] (TOML values); repeatable."
    ),
    preset: str = typer.Option(
        None,
        help="Base preset: cpu-demo (default), cpu-demo-512, cpu-emoji, cpu-emoji-64, paper-64,"
        " fpa-64.",
    ),
    config: Path = typer.Option(None, help="TOML file of base training options."),
    set_option: list[str] = typer.Option(
        None, "--set", help="A base training option as KEY=VALUE (TOML value); repeatable."
    ),
    data: str = typer.Option(None, help="mnist, emoji, a torchvision set, or an image folder."),
    image_size: str = typer.Option(None, help="32 or HxW."),
    channels: int = typer.Option(None, help="1, 3 or 4."),
    train_steps: int = typer.Option(None, help="Steps per configuration (the step budget)."),
    time_budget: float = typer.Option(
        None, help="Also stop each configuration after this many seconds of training."
    ),
    batch_size: int = typer.Option(None, help="Images per step."),
    seed: int = typer.Option(None, help="Seed of every configuration."),
    device: str = typer.Option(None, help="auto, cpu or cuda."),
    eval_n: int = typer.Option(2000, help="Images per FID/KID evaluation."),
    metrics: str = typer.Option("fid,kid", help="Comma list of fid, kid."),
    features: str = typer.Option(None, help="Feature extractor (default: the data's)."),
    inception_weights: Path = typer.Option(None, help="Inception weights, for inception."),
    samples: int = typer.Option(8, help="Samples per configuration in the contact sheet."),
    one_at_a_time: bool = typer.Option(
        False,
        "--one-at-a-time",
        help="The base config, then each axis value changed alone (not every combination).",
    ),
    jobs: int = typer.Option(
        1, help="Processes that share the grid (each trains its own cells), this one included."
    ),
    threads: int = typer.Option(
        None, help="CPU threads per process (default: the cores shared out among --jobs)."
    ),
    out: Path = typer.Option(Path("runs/ablation"), help="Folder of the runs and the table."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Train every combination on the same budget; write a table (CSV, JSON) and a contact
    sheet. Run the same command again to resume: finished configurations are skipped; run it
    in several processes at once and they share the work."""
    from fpa.ablation import ablate
    from fpa.training import RunRequest

    axes: dict[str, list[Any]] = {}
    for key, text in (("rule", rules), ("painter", painters)):
        if text:
            axes[key] = split_list(text)
    if paint_steps:
        try:
            axes["paint_steps"] = [int(value) for value in split_list(paint_steps)]
        except ValueError:
            raise ConfigError(f"--paint-steps takes whole numbers; got {paint_steps!r}") from None
    for item in vary or []:
        key, values = parse_axis(item)
        if key in axes:
            raise ConfigError(f"the axis {key!r} is given twice")
        axes[key] = values
    if not axes:
        raise ConfigError("nothing to vary: give --rules, --painters, --paint-steps or --vary")
    flags = {
        "data": data,
        "image_size": parse_image_size(image_size) if image_size else None,
        "channels": channels,
        "train_steps": train_steps,
        "batch_size": batch_size,
        "seed": seed,
        "device": device,
        "quiet": True if quiet else None,
    }
    overrides = {key: value for key, value in flags.items() if value is not None}
    overrides.update(parse_set_options(set_option or []))
    base = RunRequest.read(
        preset_name=preset, config_file=str(config) if config else None, overrides=overrides
    )
    check_eval_images(eval_n, option="--eval-n")
    if samples < 1:
        raise ConfigError(f"--samples must be at least 1; got {samples}")
    result = ablate(
        axes,
        out=out,
        base=base,
        time_budget=time_budget,
        eval_n=eval_n,
        metrics=metrics,
        features=features,
        inception_weights=str(inception_weights) if inception_weights else None,
        samples_per_cell=samples,
        one_at_a_time=one_at_a_time,
        jobs=jobs,
        threads=threads,
        progress=not quiet,
    )
    typer.echo(f"table: {result.csv} and {result.json}; samples: {result.contact_sheet}")
