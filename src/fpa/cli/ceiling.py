"""``fpa ceiling``: FID/KID of real images rebuilt from T strokes, what a T-step painter could
reach on that data."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from fpa.cli.app import command
from fpa.cli.common import emit_json, require_positive, require_writable_folder, stage_bars
from fpa.errors import ConfigError
from fpa.sizes import parse_image_size


def comma_ints(option: str, text: str) -> list[int]:
    """``"4,8,16"`` -> ``[4, 8, 16]``, or one error line naming the option."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"{option} takes a comma list of whole numbers; got {text!r}") from None


@command("ceiling")
def ceiling_command(
    data: str = typer.Argument(..., help="A built-in data set (emoji, oxygen, …) or a folder."),
    ranks: str = typer.Option("4,8,16,32", help="Comma list of T, the strokes per image."),
    strokes: str = typer.Option(
        "per-channel,shared-key,coloured", help="Comma list of stroke layouts, as --strokes."
    ),
    image_size: str = typer.Option("32", help="32 or HxW, as the painter paints."),
    channels: int = typer.Option(3, help="1 or 3."),
    colour_basis: str = typer.Option("ycbcr", help="direct or ycbcr: where strokes are fitted."),
    n: int = typer.Option(2000, "--n", help="Real images rebuilt (at most the data's size)."),
    metrics: str = typer.Option(
        "fid", help="Comma list of fid, kid (KID reads below 0 here: docs/evaluation.md)."
    ),
    features: str = typer.Option(None, help="Feature extractor (default: the data's)."),
    data_root: str = typer.Option(None, help="Where torchvision sets live."),
    batch_size: int = typer.Option(200, help="Images per forward pass."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    out: Path = typer.Option(None, help="Also write the result as JSON to this file."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Score real images rebuilt from T rank-1 strokes (truncated SVD per channel, with keys
    shared by the channels, or as coloured strokes): the best a T-step painter could reach."""
    from fpa.evaluation import ceiling

    require_positive("--n", n)
    require_positive("--batch-size", batch_size)
    if out is not None:
        require_writable_folder(out)
    console = Console(stderr=True)
    with stage_bars(console=console, disable=as_json) as progress:
        result = ceiling(
            data,
            ranks=comma_ints("--ranks", ranks),
            strokes=[part.strip() for part in strokes.split(",") if part.strip()],
            image_size=parse_image_size(image_size),
            channels=channels,
            colour_basis=colour_basis,
            n=n,
            metrics=metrics,
            features=features,
            data_root=data_root,
            batch_size=batch_size,
            device=device,
            progress=progress,
        )
    if emit_json(result.to_dict(), out=out, as_json=as_json):
        return
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
