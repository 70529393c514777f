"""``fpa evaluate``: FID/KID of a trained run against real data, offline by default."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from fpa.cli.app import command
from fpa.cli.common import (
    SOURCE_HELP,
    emit_json,
    require_positive,
    require_writable_folder,
    stage_bars,
)
from fpa.cli.flags import DeviceName, Truncation, UseEma
from fpa.cli.options import takes_options
from fpa.latents import check_truncation
from fpa.limits import check_eval_images, check_seed

if TYPE_CHECKING:
    from fpa.evaluation import EvaluationResult

TOP_CLASSES = 10


def class_rows(classes: dict[str, Any]) -> list[tuple[str, str]]:
    """Table rows of a class histogram: its entropy, how many classes were painted, and the
    ``TOP_CLASSES`` most painted ones (the whole histogram is in the JSON)."""
    counts = classes["counts"]
    total = sum(counts) or 1
    painted = sum(1 for count in counts if count)
    rows = [
        (
            "class entropy (bits)",
            f"{classes['entropy_bits']:.3f} of {classes['max_entropy_bits']:.3f}",
        ),
        ("classes painted", f"{painted:,} of {len(counts):,}"),
    ]
    ranked = sorted(
        (index for index, count in enumerate(counts) if count), key=lambda i: -counts[i]
    )
    for index in ranked[:TOP_CLASSES]:
        rows.append((f"class {index}", f"{counts[index]:,} ({counts[index] / total:.1%})"))
    if painted > TOP_CLASSES:
        rows.append(("other classes", "the full histogram: --json or --out"))
    return rows


@dataclass(frozen=True, kw_only=True)
class EvaluateOptions:
    """``fpa evaluate``'s options, declared once."""

    run: Annotated[Path, typer.Argument(help=SOURCE_HELP)]
    data: Annotated[
        str | None, typer.Option(help="Real data (default: what the run trained on).")
    ] = None
    metrics: Annotated[str, typer.Option(help="Comma list of fid, kid.")] = "fid,kid"
    n: Annotated[int, typer.Option("--n", help="Generated images (and real ones, at most).")] = (
        10_000
    )
    features: Annotated[
        str | None,
        typer.Option(
            help="Feature extractor (default: digits for mnist, emoji for emoji, else inception)."
        ),
    ] = None
    inception_weights: Annotated[
        Path | None,
        typer.Option(help="The Inception weights file, for --features inception offline."),
    ] = None
    download: Annotated[
        bool, typer.Option("--download", help="Allow downloading data or Inception weights.")
    ] = False
    data_root: Annotated[str | None, typer.Option(help="Where torchvision sets live.")] = None
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 200
    device: DeviceName = "auto"
    seed: Annotated[int, typer.Option(help="Seed of the generated latents.")] = 0
    ema: UseEma = True
    cache: Annotated[bool, typer.Option("--cache/--no-cache", help="Use the real-stats cache.")] = (
        True
    )
    classes: Annotated[
        bool,
        typer.Option(
            "--classes",
            help="Also the classes painted (classifier features: digits, emoji, icons): the "
            "entropy and the top 10 in the table, the full histogram with --json or --out.",
        ),
    ] = False
    truncation: Truncation = 1.0
    out: Annotated[
        Path | None, typer.Option(help="Also write the result as JSON to this file.")
    ] = None
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False

    def check(self) -> None:
        """Refuse, before anything is loaded, flags that cannot work."""
        check_eval_images(self.n)
        require_positive("--batch-size", self.batch_size)
        check_seed(self.seed)
        check_truncation(self.truncation)
        if self.out is not None:
            require_writable_folder(self.out)


@command("evaluate")
@takes_options(EvaluateOptions)
def evaluate_command(options: EvaluateOptions) -> None:
    """Measure FID/KID of a trained generator (real statistics are cached)."""
    from fpa.evaluation import evaluate

    options.check()
    console = Console(stderr=True)
    weights = options.inception_weights
    with (
        stage_bars(console=console, disable=options.as_json, suffix=" images") as progress,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        result = evaluate(
            options.run,
            data=options.data,
            metrics=options.metrics,
            n=options.n,
            features=options.features,
            inception_weights=str(weights) if weights else None,
            data_root=options.data_root,
            download=options.download,
            batch_size=options.batch_size,
            device=options.device,
            seed=options.seed,
            ema=options.ema,
            use_cache=options.cache,
            classes=options.classes,
            truncation=options.truncation,
            progress=progress,
        )
    for warning in caught:
        console.print(f"note: {warning.message}", highlight=False, markup=False)
    if not emit_json(result.to_dict(), out=options.out, as_json=options.as_json):
        show_evaluation(result, console=console)


def show_evaluation(result: EvaluationResult, *, console: Console) -> None:
    """The scores as a table on stdout, then how they were measured on ``console``."""
    from fpa.evaluation.metrics import kid_std_note

    table = Table(title=f"step {result.step}")
    for column in ("metric", "value"):
        table.add_column(column)
    for name, value in result.scores.items():
        table.add_row(name, f"{value:.6g}")
    if result.classes is not None:
        for row in class_rows(result.classes):
            table.add_row(*row)
    Console().print(table)
    if (note := kid_std_note(result.scores)) is not None:
        console.print(f"note: {note}", highlight=False, markup=False)
    console.print(
        f"{result.checkpoint}: {result.n_generated} generated vs {result.n_real} real "
        f"{result.data} images, "
        f"features {result.features}; real statistics: {result.real_stats}",
        highlight=False,
        markup=False,
    )
