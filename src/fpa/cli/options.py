"""Parsing helpers shared by CLI commands."""

from __future__ import annotations

from fpa.devices import resolve_device
from fpa.sizes import parse_image_size

__all__ = ["parse_image_size", "resolve_device"]
