"""``fpa plugins``: every registered component, who provides it, and plugins that broke."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from fpa.cli.app import command
from fpa.plugins import KINDS, registry


def plugins_report() -> dict:
    """The registry as plain data: components, plugins with their hooks, broken plugins."""
    current = registry()
    components = [
        {
            "kind": kind,
            "name": component.name,
            "plugin": component.plugin,
            "distribution": component.origin.distribution,
            "version": component.origin.version,
            "description": component.description,
        }
        for kind in KINDS
        for component in sorted(current.components[kind].values(), key=lambda c: c.name)
    ]
    origins = {c.plugin: c.origin for table in current.components.values() for c in table.values()}
    plugins = [
        {
            "plugin": name,
            "distribution": origins[name].distribution if name in origins else None,
            "version": origins[name].version if name in origins else None,
            "hooks": hooks,
        }
        for name, hooks in sorted(current.hooks.items())
    ]
    broken = [
        {
            "plugin": item.plugin,
            "distribution": item.origin.distribution,
            "version": item.origin.version,
            "error": item.error,
        }
        for item in current.broken
    ]
    return {"components": components, "plugins": plugins, "broken": broken}


def plugins_help() -> str:
    """The command's help, naming every component kind that ``fpa.plugins.KINDS`` holds."""
    return f"List every registered component: {', '.join(KINDS[:-1])} and {KINDS[-1]}."


@command("plugins", help=plugins_help())
def plugins_command(
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """List every registered component (the help text is :func:`plugins_help`)."""
    report = plugins_report()
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    console = Console()
    # In 80 columns the descriptions wrap; a name too long for its cell folds, never cut.
    table = Table(title="fpa components")
    for column in ("kind", "name", "provided by", "description"):
        table.add_column(column, overflow="fold")
    for row in report["components"]:
        origin = (
            f"{row['distribution']} {row['version'] or ''}".strip()
            if row["distribution"]
            else "registered at runtime"
        )
        table.add_row(*map(escape, (row["kind"], row["name"], origin, row["description"])))
    console.print(table)
    hooks = Table(title="plugins and their hooks")
    for column in ("plugin", "provided by", "hooks"):
        hooks.add_column(column, overflow="fold")
    for row in report["plugins"]:
        origin = row["distribution"] or "registered at runtime"
        hooks.add_row(*map(escape, (row["plugin"], origin, ", ".join(row["hooks"]))))
    console.print(hooks)
    for row in report["broken"]:
        origin = row["distribution"] or "registered at runtime"
        about = escape(f"{row['plugin']} ({origin}): {row['error']}")
        console.print(f"[red]broken plugin[/red] {about}")
