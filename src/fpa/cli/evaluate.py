"""``fpa evaluate``: FID/KID of a trained run against real data, offline by default."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

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
from fpa.latents import check_truncation
from fpa.limits import check_eval_images, check_seed

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


@command("evaluate")
def evaluate_command(
    run: Path = typer.Argument(..., help=SOURCE_HELP),
    data: str = typer.Option(None, help="Real data (default: what the run trained on)."),
    metrics: str = typer.Option("fid,kid", help="Comma list of fid, kid."),
    n: int = typer.Option(10_000, "--n", help="Generated images (and real ones, at most)."),
    features: str = typer.Option(
        None, help="Feature extractor (default: digits for mnist, emoji for emoji, else inception)."
    ),
    inception_weights: Path = typer.Option(
        None, help="The Inception weights file, for --features inception offline."
    ),
    download: bool = typer.Option(
        False, "--download", help="Allow downloading data or Inception weights."
    ),
    data_root: str = typer.Option(None, help="Where torchvision sets live."),
    batch_size: int = typer.Option(200, help="Images per forward pass."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    seed: int = typer.Option(0, help="Seed of the generated latents."),
    ema: bool = typer.Option(True, "--ema/--no-ema", help="EMA weights (default) or raw G."),
    cache: bool = typer.Option(True, "--cache/--no-cache", help="Use the real-stats cache."),
    classes: bool = typer.Option(
        False,
        "--classes",
        help="Also the classes painted (classifier features: digits, emoji, icons): the "
        "entropy and the top 10 in the table, the full histogram with --json or --out.",
    ),
    truncation: float = typer.Option(
        1.0, help="Pull the latents towards their mean by this factor ψ (1: unchanged)."
    ),
    out: Path = typer.Option(None, help="Also write the result as JSON to this file."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Measure FID/KID of a trained generator (real statistics are cached)."""
    from fpa.evaluation import evaluate
    from fpa.evaluation.metrics import kid_std_note

    check_eval_images(n)
    require_positive("--batch-size", batch_size)
    check_seed(seed)
    check_truncation(truncation)
    if out is not None:
        require_writable_folder(out)
    console = Console(stderr=True)
    with (
        stage_bars(console=console, disable=as_json, suffix=" images") as progress,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        result = evaluate(
            run,
            data=data,
            metrics=metrics,
            n=n,
            features=features,
            inception_weights=str(inception_weights) if inception_weights else None,
            data_root=data_root,
            download=download,
            batch_size=batch_size,
            device=device,
            seed=seed,
            ema=ema,
            use_cache=cache,
            classes=classes,
            truncation=truncation,
            progress=progress,
        )
    for warning in caught:
        console.print(f"note: {warning.message}", highlight=False, markup=False)
    if emit_json(result.to_dict(), out=out, as_json=as_json):
        return
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
