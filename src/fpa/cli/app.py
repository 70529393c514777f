"""The Typer application, its global options, and the error policy every command shares."""

from __future__ import annotations

import functools
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup

from fpa._version import __version__
from fpa.errors import FpaError, error_summary

try:
    from typer._click.exceptions import UsageError
except ImportError:  # a Typer that uses Click itself rather than its own copy
    from click.exceptions import UsageError  # type: ignore[assignment]

USAGE_ERROR = 2
INTERRUPTED = 130


def usage_error_line(error: UsageError) -> str:
    """Click's usage error as one line: ``error: no such command 'trian'; did you mean
    'train'? (see fpa --help)``."""
    message = error_summary(error.format_message()).replace(". Did you mean", "; did you mean")
    message = message[:1].lower() + message[1:]
    if message.endswith(".") and not message.endswith(".."):
        message = message[:-1]
    context = getattr(error, "ctx", None)
    hint = f" (see {context.command_path} --help)" if context is not None else ""
    return f"error: {message}{hint}"


@contextmanager
def one_line_usage_errors() -> Iterator[None]:
    """Turn Click's usage errors (an unknown command or option, a value of the wrong type, a
    missing argument) into one ``error:`` line and exit code 2, like every other bad input."""
    try:
        yield
    except UsageError as error:
        # ``fpa`` with no arguments: Typer has printed the help already; let it exit as usual.
        if type(error).__name__ == "NoArgsIsHelpError":
            raise
        typer.echo(usage_error_line(error), err=True)
        raise typer.Exit(code=USAGE_ERROR) from None


def plain_flags(params: list[Any]) -> list[Any]:
    """``params`` with every flag (``--debug``, ``--json``, ``--help``) given an empty metavar:
    a flag takes no value, and Typer would show ``<bool>`` beside it in the help."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class PlainFlagsCommand(TyperCommand):
    """An ``fpa`` command whose help shows flags without a value type."""

    def get_params(self, ctx):
        return plain_flags(super().get_params(ctx))


class OneLineErrorsGroup(TyperGroup):
    """The ``fpa`` group: its own options and its commands' are parsed under the one-line error
    policy (Typer would print a multi-line box instead); flags show without a value type."""

    def get_params(self, ctx):
        return plain_flags(super().get_params(ctx))

    def make_context(self, info_name, args, parent=None, **extra):
        with one_line_usage_errors():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx):
        with one_line_usage_errors():
            return super().invoke(ctx)


app = typer.Typer(
    name="fpa",
    cls=OneLineErrorsGroup,
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
    debug: bool = typer.Option(
        False, "--debug", help="Show the full traceback instead of one error line."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Fast weight painters: images painted as weight matrices by learning rules."""
    _settings["debug"] = debug


def interrupt(number: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM during a command is Ctrl-C: ``interrupted`` and exit code 130, with the
    clean-up Ctrl-C gets (a run folder made for a run that never started is removed), rather
    than the silent exit 143 of Python's default. Training's own handler, while it trains,
    turns either into a checkpoint and a resume command."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def command(name: str, *, help: str | None = None) -> Callable[[Command], Command]:
    """Register a CLI command whose bad-input errors print one line and exit with code 2;
    ``help`` replaces the docstring as its help text when that has to be computed."""

    def decorate(function: Command) -> Command:
        @functools.wraps(function)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                with sigterm_as_interrupt():
                    return function(*args, **kwargs)
            except (FpaError, OSError) as error:
                if _settings["debug"]:
                    raise
                typer.echo(f"error: {error_summary(error)}", err=True)
                raise typer.Exit(code=USAGE_ERROR) from None
            except KeyboardInterrupt:
                if _settings["debug"]:
                    raise
                typer.echo("interrupted", err=True)
                raise typer.Exit(code=INTERRUPTED) from None

        app.command(name, help=help, cls=PlainFlagsCommand)(guarded)
        return function

    return decorate
