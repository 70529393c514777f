"""Parsing helpers shared by CLI commands."""

from __future__ import annotations

import re

import torch

from fpa.errors import ConfigError

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


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present, else the CPU; ``cuda`` without CUDA is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ConfigError(f"unknown device {name!r} (use auto, cpu or cuda)") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but no CUDA device is available")
    return device
