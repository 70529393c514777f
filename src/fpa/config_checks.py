"""Checks the config dataclasses share: field types, known keys, a choice among options."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from fpa.errors import ConfigError, did_you_mean

SCALAR_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "bool": (bool,),
}
CONTAINER_TYPES: dict[str, tuple[type, ...]] = {"tuple": (tuple, list), "dict": (dict,)}


def field_names(config_class: Any) -> list[str]:
    """The field names of a config dataclass, in declaration order."""
    return [item.name for item in fields(config_class)]


def check_field_types(config: Any) -> None:
    """Refuse values of the wrong type (``--set lr=abc``) with one readable line.

    Reads the annotations as written (``from __future__ import annotations`` keeps them as
    text); fields of other types (nested configs) are checked by their own class.
    """
    for item in fields(config):
        value, annotation = getattr(config, item.name), str(item.type)
        expected = SCALAR_TYPES.get(annotation) or CONTAINER_TYPES.get(annotation.split("[")[0])
        if expected is None:
            continue
        wrong_bool = isinstance(value, bool) and annotation in ("int", "float")
        if wrong_bool or not isinstance(value, expected):
            raise ConfigError(f"{item.name} must be {annotation}; got {value!r}")


def check_known_keys(data: dict[str, Any], *, known: list[str], what: str) -> None:
    """Refuse a key that is none of ``known``, naming the closest one."""
    for key in data:
        if key not in known:
            raise ConfigError(f"unknown {what} {key!r}{did_you_mean(key, known)}")


def choose(name: str, value: str, options: tuple[str, ...]) -> None:
    """Refuse ``value`` unless it is one of ``options``."""
    if value not in options:
        raise ConfigError(f"{name} must be one of {', '.join(options)}; got {value!r}")
