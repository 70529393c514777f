"""``fpa ablate``: train a grid of configurations on one budget each and tabulate FID/KID."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fpa.cli.app import command
from fpa.cli.options import parse_image_size, parse_set_options, takes_options
from fpa.errors import ConfigError
from fpa.limits import check_eval_images

if TYPE_CHECKING:
    from fpa.training import RunRequest


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


@dataclass(frozen=True, kw_only=True)
class AblateOptions:
    """``fpa ablate``'s options, declared once: the axes, the base run every cell changes, and
    how the cells are measured and shared out."""

    rules: Annotated[str | None, typer.Option(help="Comma list of rules, e.g. delta,hebb,oja.")] = (
        None
    )
    painters: Annotated[
        str | None, typer.Option(help="Comma list of painters, e.g. lstm,transformer.")
    ] = None
    paint_steps: Annotated[str | None, typer.Option(help="Comma list of T, e.g. 16,32.")] = None
    vary: Annotated[
        list[str] | None,
        typer.Option(help="Any other axis: KEY=V1,V2 or KEY=[V1,V2] (TOML values); repeatable."),
    ] = None
    preset: Annotated[
        str | None,
        typer.Option(
            help="Base preset: cpu-demo (default), cpu-demo-512, cpu-emoji, cpu-emoji-lstm, "
            "cpu-emoji-64, paper-64, fpa-64."
        ),
    ] = None
    config: Annotated[Path | None, typer.Option(help="TOML file of base training options.")] = None
    set_option: Annotated[
        list[str] | None,
        typer.Option("--set", help="A base training option as KEY=VALUE (TOML value); repeatable."),
    ] = None
    data: Annotated[
        str | None, typer.Option(help="mnist, emoji, a torchvision set, or an image folder.")
    ] = None
    image_size: Annotated[str | None, typer.Option(help="32 or HxW.")] = None
    channels: Annotated[int | None, typer.Option(help="1, 3 or 4.")] = None
    train_steps: Annotated[
        int | None, typer.Option(help="Steps per configuration (the step budget).")
    ] = None
    time_budget: Annotated[
        float | None,
        typer.Option(help="Also stop each configuration after this many seconds of training."),
    ] = None
    batch_size: Annotated[int | None, typer.Option(help="Images per step.")] = None
    seed: Annotated[int | None, typer.Option(help="Seed of every configuration.")] = None
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda.")] = None
    eval_n: Annotated[int, typer.Option(help="Images per FID/KID evaluation.")] = 2000
    metrics: Annotated[str, typer.Option(help="Comma list of fid, kid.")] = "fid,kid"
    features: Annotated[
        str | None, typer.Option(help="Feature extractor (default: the data's).")
    ] = None
    inception_weights: Annotated[
        Path | None, typer.Option(help="Inception weights, for inception.")
    ] = None
    samples: Annotated[
        int, typer.Option(help="Samples per configuration in the contact sheet.")
    ] = 8
    one_at_a_time: Annotated[
        bool,
        typer.Option(
            "--one-at-a-time",
            help="The base config, then each axis value changed alone (not every combination).",
        ),
    ] = False
    jobs: Annotated[
        int,
        typer.Option(
            help="Processes that share the grid (each trains its own cells), this one included."
        ),
    ] = 1
    threads: Annotated[
        int | None,
        typer.Option(help="CPU threads per process (default: the cores shared out among --jobs)."),
    ] = None
    out: Annotated[Path, typer.Option(help="Folder of the runs and the table.")] = Path(
        "runs/ablation"
    )
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False

    def axes(self) -> dict[str, list[Any]]:
        """What the grid varies: --rules, --painters, --paint-steps, then each --vary."""
        axes: dict[str, list[Any]] = {}
        for key, text in (("rule", self.rules), ("painter", self.painters)):
            if text:
                axes[key] = split_list(text)
        if self.paint_steps:
            try:
                axes["paint_steps"] = [int(value) for value in split_list(self.paint_steps)]
            except ValueError:
                raise ConfigError(
                    f"--paint-steps takes whole numbers; got {self.paint_steps!r}"
                ) from None
        for item in self.vary or []:
            key, values = parse_axis(item)
            if key in axes:
                raise ConfigError(f"the axis {key!r} is given twice")
            axes[key] = values
        if not axes:
            raise ConfigError("nothing to vary: give --rules, --painters, --paint-steps or --vary")
        return axes

    def base(self) -> RunRequest:
        """The run every cell changes: the preset, the config file, the flags, then --set."""
        from fpa.training import RunRequest

        flags = {
            "data": self.data,
            "image_size": parse_image_size(self.image_size) if self.image_size else None,
            "channels": self.channels,
            "train_steps": self.train_steps,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "device": self.device,
            "quiet": True if self.quiet else None,
        }
        overrides = {key: value for key, value in flags.items() if value is not None}
        overrides.update(parse_set_options(self.set_option or []))
        config_file = str(self.config) if self.config else None
        return RunRequest.read(
            preset_name=self.preset, config_file=config_file, overrides=overrides
        )


@command("ablate")
@takes_options(AblateOptions)
def ablate_command(options: AblateOptions) -> None:
    """Train every combination on the same budget; write a table (CSV, JSON) and a contact
    sheet. Run the same command again to resume: finished configurations are skipped; run it
    in several processes at once and they share the work."""
    from fpa.ablation import ablate

    axes, base = options.axes(), options.base()
    check_eval_images(options.eval_n, option="--eval-n")
    if options.samples < 1:
        raise ConfigError(f"--samples must be at least 1; got {options.samples}")
    weights = options.inception_weights
    result = ablate(
        axes,
        out=options.out,
        base=base,
        time_budget=options.time_budget,
        eval_n=options.eval_n,
        metrics=options.metrics,
        features=options.features,
        inception_weights=str(weights) if weights else None,
        samples_per_cell=options.samples,
        one_at_a_time=options.one_at_a_time,
        jobs=options.jobs,
        threads=options.threads,
        progress=not options.quiet,
    )
    typer.echo(f"table: {result.csv} and {result.json}; samples: {result.contact_sheet}")
