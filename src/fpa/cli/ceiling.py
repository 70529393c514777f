"""``fpa ceiling``: FID/KID of real images rebuilt from T strokes, what a T-step painter could
reach on that data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from fpa.cli.app import command
from fpa.cli.common import emit_json, require_positive, require_writable_folder, stage_bars
from fpa.cli.flags import DeviceName
from fpa.cli.options import takes_options
from fpa.errors import ConfigError
from fpa.sizes import parse_image_size

if TYPE_CHECKING:
    from fpa.evaluation.rank_ceiling import CeilingResult


def comma_ints(option: str, text: str) -> list[int]:
    """``"4,8,16"`` -> ``[4, 8, 16]``, or one error line naming the option."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"{option} takes a comma list of whole numbers; got {text!r}") from None


@dataclass(frozen=True, kw_only=True)
class CeilingOptions:
    """``fpa ceiling``'s options, declared once."""

    data: Annotated[str, typer.Argument(help="A built-in data set (emoji, oxygen, …) or a folder.")]
    ranks: Annotated[str, typer.Option(help="Comma list of T, the strokes per image.")] = (
        "4,8,16,32"
    )
    strokes: Annotated[str, typer.Option(help="Comma list of stroke layouts, as --strokes.")] = (
        "per-channel,shared-key,coloured"
    )
    image_size: Annotated[str, typer.Option(help="32 or HxW, as the painter paints.")] = "32"
    channels: Annotated[int, typer.Option(help="1 or 3.")] = 3
    colour_basis: Annotated[
        str, typer.Option(help="direct or ycbcr: where strokes are fitted.")
    ] = "ycbcr"
    n: Annotated[
        int, typer.Option("--n", help="Real images rebuilt (at most the data's size).")
    ] = 2000
    metrics: Annotated[
        str,
        typer.Option(help="Comma list of fid, kid (KID reads below 0 here: docs/evaluation.md)."),
    ] = "fid"
    features: Annotated[
        str | None, typer.Option(help="Feature extractor (default: the data's).")
    ] = None
    data_root: Annotated[str | None, typer.Option(help="Where torchvision sets live.")] = None
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 200
    device: DeviceName = "auto"
    out: Annotated[
        Path | None, typer.Option(help="Also write the result as JSON to this file.")
    ] = None
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False

    def check(self) -> None:
        """Refuse, before any image is read, flags that cannot work."""
        require_positive("--n", self.n)
        require_positive("--batch-size", self.batch_size)
        if self.out is not None:
            require_writable_folder(self.out)


@command("ceiling")
@takes_options(CeilingOptions)
def ceiling_command(options: CeilingOptions) -> None:
    """Score real images rebuilt from T rank-1 strokes (truncated SVD per channel, with keys
    shared by the channels, or as coloured strokes): the best a T-step painter could reach."""
    from fpa.evaluation import ceiling

    options.check()
    console = Console(stderr=True)
    with stage_bars(console=console, disable=options.as_json) as progress:
        result = ceiling(
            options.data,
            ranks=comma_ints("--ranks", options.ranks),
            strokes=[part.strip() for part in options.strokes.split(",") if part.strip()],
            image_size=parse_image_size(options.image_size),
            channels=options.channels,
            colour_basis=options.colour_basis,
            n=options.n,
            metrics=options.metrics,
            features=options.features,
            data_root=options.data_root,
            batch_size=options.batch_size,
            device=options.device,
            progress=progress,
        )
    if not emit_json(result.to_dict(), out=options.out, as_json=options.as_json):
        show_ceiling(result, console=console)


def show_ceiling(result: CeilingResult, *, console: Console) -> None:
    """The scores per stroke layout and T as a table on stdout, then how they were measured."""
    table = Table(title=f"{result.data}, rebuilt from T strokes ({result.colour_basis})")
    names = list(result.rows[0].scores) if result.rows else []
    for column in ("strokes", "T", *names, "rel. error"):
        table.add_column(column, justify="left" if column == "strokes" else "right")
    for row in result.rows:
        values = [f"{row.scores[name]:.4g}" for name in names]
        table.add_row(row.strokes, str(row.rank), *values, f"{row.relative_error:.4f}")
    Console().print(table)
    console.print(
        f"{result.n_real} real images, features {result.features}; real statistics: "
        f"{result.real_stats}",
        highlight=False,
        markup=False,
    )
