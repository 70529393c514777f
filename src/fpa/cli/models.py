"""``fpa models``: the trained models installed packages ship, by name, with their cards'
claims (what each paints, its measured FID)."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from fpa.cli.app import command
from fpa.errors import FpaError
from fpa.models import read_card
from fpa.plugins import build, registry
from fpa.runs.model_layout import CARD_FILE


def models_report() -> list[dict[str, Any]]:
    """Every registered model: its name, folder, provider, and what its card states."""
    rows = []
    for name, component in sorted(registry().components["models"].items()):
        row: dict[str, Any] = {
            "name": name,
            "distribution": component.origin.distribution,
            "version": component.origin.version,
        }
        try:
            folder = build("models", name)
            card = read_card(folder / CARD_FILE)
        except (FpaError, OSError) as error:
            rows.append({**row, "error": str(error)})
            continue
        measured = card.measured
        rows.append(
            {
                **row,
                "folder": str(folder),
                "paints": card.paints,
                "data": card.data,
                "parameters": card.parameters,
                "licence": card.licence,
                "scores": measured.scores if measured else {},
                "features": measured.features if measured else None,
                "n": measured.n if measured else None,
            }
        )
    return rows


WHOLE = ("name", "parameters", "licence")


@command("models")
def models_command(
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """List the trained models that fpa and installed plugins ship: `fpa sample NAME`,
    `fpa paint NAME` and `fpa.load(NAME)` use them offline."""
    rows = models_report()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    console = Console()
    if not rows:
        console.print("no models registered")
        return
    # Names and numbers stay whole in 80 columns; the prose wraps, and a long word folds.
    table = Table(title="fpa models", padding=0)
    for column in ("name", "paints", "FID", "parameters", "licence", "provided by"):
        table.add_column(column, no_wrap=column in WHOLE, overflow="fold")
    for row in rows:
        provider = " ".join(filter(None, [row["distribution"], row["version"]])) or "runtime"
        if "error" in row:
            table.add_row(
                escape(row["name"]),
                escape(f"(card unreadable: {row['error']})"),
                "",
                "",
                "",
                escape(provider),
            )
            continue
        fid = row["scores"].get("fid")
        score = f"{fid:.3g} ({row['features']}, n={row['n']:,})" if fid is not None else "—"
        table.add_row(
            escape(row["name"]),
            escape(row["paints"]),
            escape(score),
            f"{row['parameters']:,}",
            escape(row["licence"]),
            escape(provider),
        )
    console.print(table)
