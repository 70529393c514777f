"""Parsing helpers shared by CLI commands."""

from __future__ import annotations

import re

from fpa.devices import resolve_device
from fpa.errors import ConfigError

__all__ = ["parse_image_size", "resolve_device"]

SIZE_PATTERN = re.compile(r"^\s*(\d+)\s*(?:[x×,]\s*(\d+))?\s*$")


def parse_image_size(text: str) -> tuple[int, int]:
    """``"32"`` -> (32, 32); ``"32x48"`` -> (32, 48) as (H, W)."""
    match = SIZE_PATTERN.match(text)
    if not match:
        raise ConfigError(f"image size must look like 32 or 32x48 (H×W); got {text!r}")
    height = int(match.group(1))
    width = int(match.group(2)) if match.group(2) else height
    if height < 1 or width < 1:
        raise ConfigError(f"image sides must be positive; got {text!r}")
    return height, width
