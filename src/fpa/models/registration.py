"""How a package registers the model folders it ships (the ``models`` plugin kind).

fpa's own shipped models register through :func:`register_model_folders`, exactly as a
third-party package of painters would from its own ``fpa_register_models`` hook.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fpa.models.card import ModelCardError, read_card
from fpa.runs.model_layout import CARD_FILE, CONFIG_FILE


@dataclass(frozen=True)
class PackagedModel:
    """A model folder inside an installed package; calling it gives the folder."""

    folder: Path

    def __call__(self) -> Path:
        return self.folder


def register_model_folders(register: Callable[..., None], root: Path) -> None:
    """Register every model folder directly under ``root`` (each subfolder holding a
    config.json) by its folder's name, described by what its card says it paints."""
    if not root.is_dir():
        return
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and (folder / CONFIG_FILE).is_file():
            register(folder.name, PackagedModel(folder), description=describe(folder))


def describe(folder: Path) -> str:
    """One line for listings: what the model paints, or why its card cannot say."""
    try:
        return f"paints {read_card(folder / CARD_FILE).paints}"
    except ModelCardError:
        return "a model folder whose card cannot be read"
