"""Parsing helpers shared by CLI commands, and :func:`takes_options`: a command whose options
are declared once, as the fields of a dataclass."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import Any, TypeVar

from fpa.devices import resolve_device
from fpa.errors import ConfigError
from fpa.sizes import parse_image_size

__all__ = ["parse_image_size", "parse_set_options", "resolve_device", "takes_options"]

Options = TypeVar("Options")


def takes_options(
    options: type[Options],
) -> Callable[[Callable[[Options], None]], Callable[..., None]]:
    """Turn ``handler(options)`` into a Typer command whose parameters are the fields of the
    dataclass ``options`` (each ``Annotated`` with its ``typer.Option``), so that a command's
    options are listed once and reach it as one value."""
    hints = typing.get_type_hints(options, include_extras=True)
    parameters = [
        inspect.Parameter(
            item.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=inspect.Parameter.empty if item.default is MISSING else item.default,
            annotation=hints[item.name],
        )
        for item in fields(options)  # type: ignore[arg-type]
    ]

    def decorate(handler: Callable[[Options], None]) -> Callable[..., None]:
        @functools.wraps(handler)
        def command(**values: Any) -> None:
            handler(options(**values))

        command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in parameters}
        del command.__wrapped__  # Typer reads this signature, not the handler's
        return command

    return decorate


def parse_set_options(items: list[str], *, flag: str = "--set") -> dict[str, Any]:
    """``KEY=VALUE`` pairs whose values are read as TOML (strings may go unquoted)."""
    from fpa.runs.config import tomllib

    parsed: dict[str, Any] = {}
    for item in items:
        key, separator, text = item.partition("=")
        if not separator or not key.strip():
            raise ConfigError(f"{flag} takes KEY=VALUE; got {item!r}")
        try:
            value = tomllib.loads(f"value = {text}")["value"]
        except tomllib.TOMLDecodeError:
            value = text
        parsed[key.strip()] = value
    return parsed
