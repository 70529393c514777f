"""The Typer application, its global options, and the error policy every command shares."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from fpa._version import __version__
from fpa.errors import FpaError

USAGE_ERROR = 2
INTERRUPTED = 130

app = typer.Typer(
    name="fpa",
    help="Fast weight painters: images painted as weight matrices by learning rules.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_settings = {"debug": False}

Command = TypeVar("Command", bound=Callable[..., Any])


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"fpa {__version__}")
        raise typer.Exit()


@app.callback()
def global_options(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Fast weight painters: images painted as weight matrices by learning rules."""
    _settings["debug"] = debug


def command(name: str) -> Callable[[Command], Command]:
    """Register a CLI command whose bad-input errors print one line and exit with code 2."""

    def decorate(function: Command) -> Command:
        @functools.wraps(function)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except (FpaError, OSError) as error:
                if _settings["debug"]:
                    raise
                typer.echo(f"error: {error}", err=True)
                raise typer.Exit(code=USAGE_ERROR) from None
            except KeyboardInterrupt:
                if _settings["debug"]:
                    raise
                typer.echo("interrupted", err=True)
                raise typer.Exit(code=INTERRUPTED) from None

        app.command(name)(guarded)
        return function

    return decorate
