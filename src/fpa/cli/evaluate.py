"""``fpa evaluate``: FID/KID of a trained run against real data, offline by default."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from fpa.cli.app import command
from fpa.cli.common import require_positive, require_writable_folder
from fpa.files import atomic_write_bytes


@command("evaluate")
def evaluate_command(
    run: Path = typer.Argument(..., help="A run directory or a checkpoint file."),
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
        False, "--classes", help="Also the histogram of painted classes (digits features)."
    ),
    out: Path = typer.Option(None, help="Also write the result as JSON to this file."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Measure FID/KID of a trained generator (real statistics are cached)."""
    from fpa.evaluation import evaluate

    require_positive("--n", n)
    require_positive("--batch-size", batch_size)
    if out is not None:
        require_writable_folder(out)
    console = Console(stderr=True)
    with (
        Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=True,
            disable=as_json,
        ) as bar,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(f"{stage} images", total=total)
            bar.update(tasks[stage], completed=done)

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
            progress=progress,
        )
    for warning in caught:
        console.print(f"note: {warning.message}", highlight=False, markup=False)
    record = result.to_dict()
    if out is not None:
        atomic_write_bytes(out, (json.dumps(record, indent=2) + "\n").encode())
    if as_json:
        typer.echo(json.dumps(record, indent=2))
        return
    table = Table(title=f"step {result.step}")
    for column in ("metric", "value"):
        table.add_column(column)
    for name, value in result.scores.items():
        table.add_row(name, f"{value:.6g}")
    if result.classes is not None:
        counts = result.classes["counts"]
        table.add_row("class entropy (bits)", f"{result.classes['entropy_bits']:.3f}")
        table.add_row("class counts", " ".join(str(count) for count in counts))
    Console().print(table)
    console.print(
        f"{result.checkpoint}: {result.n_generated} generated vs {result.n_real} real "
        f"{result.data} images, "
        f"features {result.features}; real statistics: {result.real_stats}",
        highlight=False,
        markup=False,
    )
