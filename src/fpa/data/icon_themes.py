"""``tango``, ``oxygen``, ``gnome``: shaded colour icons from Debian's icon-theme packages.

Flat emoji (black outlines around flat colour) are what rank-1 strokes paint easily; these
icons are drawn with gradients, highlights and soft shadows, like the natural images the
paper trains on, at sizes a CPU can train. Each theme ships PNG renders at fixed sizes under
``/usr/share/icons/<theme>/`` (installed by ``apt-get install tango-icon-theme
oxygen-icon-theme gnome-icon-theme``; ``FPA_ICONS_DIR`` points elsewhere). fpa reads the
smallest render at least as large as the requested size (else the largest), keeps one copy of
each distinct file (the packages link many names to one picture), composites the alpha onto
white and resizes with the usual antialiased bicubic filter (``contain``: icons keep their
aspect ratio). The pictures are cached per (size, channels) in memory.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fpa.data.arrays import ArrayDataset
from fpa.data.pixels import pil_to_uint8
from fpa.errors import DataError


@dataclass(frozen=True)
class IconTheme:
    """Where one theme's PNG renders live below the icons folder, and how to install it."""

    name: str
    folder: str
    package: str


THEMES = {
    "tango": IconTheme(name="tango", folder="Tango", package="tango-icon-theme"),
    "oxygen": IconTheme(name="oxygen", folder="oxygen/base", package="oxygen-icon-theme"),
    "gnome": IconTheme(name="gnome", folder="gnome", package="gnome-icon-theme"),
}
_TENSORS: dict[tuple[str, int, int, int], torch.Tensor] = {}
_LOCK = threading.Lock()


def icons_dir() -> Path:
    """The folder that holds the icon themes: ``FPA_ICONS_DIR``, else ``/usr/share/icons``."""
    return Path(os.environ.get("FPA_ICONS_DIR", "/usr/share/icons")).expanduser()


def render_sizes(theme: IconTheme) -> dict[int, Path]:
    """The square PNG render sizes the theme ships, mapped to their folders."""
    root = icons_dir() / theme.folder
    sizes = {}
    if root.is_dir():
        for entry in root.iterdir():
            width, _, height = entry.name.partition("x")
            if width.isdigit() and width == height and entry.is_dir():
                sizes[int(width)] = entry
    if not sizes:
        raise DataError(
            f"the {theme.name} dataset needs Debian's {theme.package} (no PNG icons under "
            f"{str(root)!r}): apt-get install {theme.package}, or set FPA_ICONS_DIR to the "
            "folder that holds the theme"
        )
    return sizes


def icon_files(theme: IconTheme, *, size: tuple[int, int]) -> list[Path]:
    """One file per distinct picture at the render size chosen for ``size``, sorted by path.

    Links and byte-identical copies are dropped (Tango's 850 names hold 215 pictures)."""
    sizes = render_sizes(theme)
    larger = [s for s in sizes if s >= max(size)]
    folder = sizes[min(larger) if larger else max(sizes)]
    seen: set[str] = set()
    files = []
    for path in sorted(folder.rglob("*.png")):
        if not path.is_file():
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest not in seen:
            seen.add(digest)
            files.append(path)
    if not files:
        raise DataError(f"the {theme.name} icon theme has no PNG files under {str(folder)!r}")
    return files


def read_icons(theme: IconTheme, *, size: tuple[int, int], channels: int) -> np.ndarray:
    """Every distinct icon as uint8 ``(N, channels, H, W)``, alpha composited onto white."""
    pictures = []
    for path in icon_files(theme, size=size):
        with Image.open(path) as image:
            image.load()
            pictures.append(pil_to_uint8(image, size=size, channels=channels, fit="contain"))
    return np.stack(pictures)


def build_icons(
    theme_name: str, *, image_size: tuple[int, int], channels: int, **_: object
) -> ArrayDataset:
    """The icons of one theme at ``image_size`` (H, W) with ``channels`` channels."""
    theme = THEMES[theme_name]
    key = (theme.name, *image_size, channels)
    with _LOCK:
        if key not in _TENSORS:
            pixels = read_icons(theme, size=image_size, channels=channels)
            _TENSORS[key] = torch.from_numpy(pixels)
        return ArrayDataset(_TENSORS[key], name=theme.name)


def factory(theme_name: str):
    """A dataset factory for one theme, with the registry's keyword-only signature."""

    def build(*, image_size: tuple[int, int], channels: int, **options: object) -> ArrayDataset:
        return build_icons(theme_name, image_size=image_size, channels=channels, **options)

    build.__doc__ = f"The {theme_name} icons (see :mod:`fpa.data.icon_themes`)."
    return build


FACTORIES = {name: factory(name) for name in THEMES}
