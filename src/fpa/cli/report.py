"""``fpa report``: one HTML page of runs (or ablate folders) that opens offline."""

from __future__ import annotations

import warnings
from pathlib import Path

import typer

from fpa.cli.app import command
from fpa.cli.common import OVERWRITE_HELP, refuse_to_replace
from fpa.errors import ConfigError


@command("report")
def report_command(
    runs: list[Path] = typer.Argument(..., help="Run folders, or fpa ablate folders."),
    out: Path = typer.Option(Path("report.html"), help="The HTML file to write."),
    samples: int = typer.Option(6, help="Sample grids shown per run, spread over its steps."),
    animation: bool = typer.Option(
        True, "--animation/--no-animation", help="Animate each run's latest painting."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
) -> None:
    """Write one self-contained HTML report: config, loss and FID/KID curves, speed, sample
    grids and the painting of each run; several runs overlaid, an ablation's table too."""
    from fpa.report import write_report

    if samples < 1:
        raise ConfigError(f"--samples must be at least 1; got {samples}")
    refuse_to_replace(("--out", out), overwrite=overwrite)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = write_report(list(runs), out=out, samples=samples, animation=animation)
    for warning in caught:
        typer.echo(f"note: {warning.message}", err=True)
    typer.echo(f"report: {path}")
