"""Image sizes: the one reader of ``32`` and ``(32, 48)`` (and, from the command line,
``"32x48"``) as ``(H, W)``."""

from __future__ import annotations

import re
from collections.abc import Sequence

from fpa.errors import ConfigError

SIZE_TEXT = re.compile(r"^\s*(\d+)\s*(?:[x×,]\s*(\d+))?\s*$")

ImageSize = int | Sequence[int]


def parse_image_size(text: str, *, what: str = "image size") -> tuple[int, int]:
    """``"32"`` -> (32, 32); ``"32x48"`` -> (32, 48) as (H, W): sizes typed on a command line."""
    match = SIZE_TEXT.match(text)
    if not match:
        raise ConfigError(f"{what} must look like 32 or 32x48 (H×W); got {text!r}")
    height = int(match.group(1))
    return image_hw((height, int(match.group(2)) if match.group(2) else height), what=what)


def image_hw(image_size: ImageSize, *, what: str = "image_size") -> tuple[int, int]:
    """``(H, W)`` from an int (square) or an ``(H, W)`` pair of ints; anything else (text
    included: see :func:`parse_image_size`), or a side below 1, is a one-line ConfigError."""
    if is_int(image_size):
        size = (int(image_size), int(image_size))  # type: ignore[arg-type]
    elif (
        isinstance(image_size, Sequence)
        and not isinstance(image_size, str)
        and len(image_size) == 2
        and all(is_int(side) for side in image_size)
    ):
        size = (int(image_size[0]), int(image_size[1]))
    else:
        raise ConfigError(f"{what} must be an int or an (H, W) pair of ints; got {image_size!r}")
    if min(size) < 1:
        raise ConfigError(f"image sides must be positive; got {format_size(size)}")
    return size


def is_int(value: object) -> bool:
    """An int that is not a bool (``True`` is an int to Python, never a size to us)."""
    return isinstance(value, int) and not isinstance(value, bool)


def format_size(size: tuple[int, int]) -> str:
    """``(32, 64)`` -> ``"32×64"``, for messages."""
    return f"{size[0]}×{size[1]}"


def is_power_of_two(n: int) -> bool:
    return n >= 1 and n & (n - 1) == 0
