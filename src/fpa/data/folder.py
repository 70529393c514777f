"""Any folder of images as a dataset: recursive, decoded once into memory.

Files ending in .jpg, .jpeg, .png, .webp or .bmp (any case) anywhere below the folder are
read in sorted path order, scaled so the shorter side fits and centre-cropped to (H, W).
Decoding everything up front finds every unreadable file before training starts (they are
skipped, counted in ``dataset.skipped`` and reported in one warning) and makes each epoch
as cheap as indexing an array; it costs ``N * C * H * W`` bytes of memory, about 12 kB per
image at 64x64 RGB.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from fpa.data.arrays import ArrayDataset
from fpa.data.pixels import pil_to_uint8
from fpa.errors import DataError, error_summary

EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})


class ImageFolderDataset(ArrayDataset):
    """Images decoded from a folder; ``paths`` are the files used, ``skipped`` the unreadable.

    Its classes follow torchvision's ``ImageFolder``: when every image lies in a sub-folder of
    the root, each sub-folder (sorted by name) is a class, ``root/cat/a.png`` a "cat".
    """

    def __init__(
        self, images: np.ndarray, *, name: str, paths: list[Path], skipped: list[Path], root: Path
    ) -> None:
        names, labels = folder_classes(root, paths)
        super().__init__(images, name=name, labels=labels, class_names=names)
        self.paths = tuple(paths)
        self.skipped = tuple(skipped)


def folder_classes(root: Path, paths: list[Path]) -> tuple[tuple[str, ...], np.ndarray | None]:
    """Class names and labels from the first folder below ``root`` of each path; no classes
    when any image lies in the root itself."""
    parts = [path.relative_to(root).parts for path in paths]
    if any(len(part) < 2 for part in parts):
        return (), None
    names = tuple(sorted({part[0] for part in parts}))
    index = {name: i for i, name in enumerate(names)}
    return names, np.array([index[part[0]] for part in parts], dtype=np.int64)


def find_images(folder: Path) -> list[Path]:
    """Image files below ``folder`` (recursive, following links but never into a loop), sorted
    for a stable order."""
    found: list[Path] = []
    seen = {os.path.realpath(folder)}
    for parent, dirs, files in os.walk(folder, followlinks=True):
        unseen = []
        for name in sorted(dirs):
            real = os.path.realpath(os.path.join(parent, name))
            if real not in seen:
                seen.add(real)
                unseen.append(name)
        dirs[:] = unseen
        found.extend(Path(parent) / f for f in files if Path(f).suffix.lower() in EXTENSIONS)
    return sorted(found)


def decode_image(
    path: Path, *, size: tuple[int, int], channels: int
) -> tuple[np.ndarray | None, str | None]:
    """Decode one file, or return the reason it cannot be used."""
    try:
        with Image.open(path) as image:
            return pil_to_uint8(image, size=size, channels=channels, fit="cover"), None
    except Exception as error:  # Pillow raises many types for a bad file
        return None, f"{type(error).__name__}: {error_summary(error)}"


def build_folder(
    folder: str | os.PathLike[str], *, image_size: tuple[int, int], channels: int, **_: object
) -> ImageFolderDataset:
    """Load every readable image below ``folder``; a missing or empty folder is a DataError."""
    root = Path(folder).expanduser()
    if not root.exists():
        raise DataError(f"image folder {str(root)!r} does not exist")
    if not root.is_dir():
        raise DataError(f"{str(root)!r} is a file, not a folder of images")
    paths = find_images(root)
    if not paths:
        kinds = "/".join(sorted(e[1:] for e in EXTENSIONS))
        raise DataError(f"no image files ({kinds}) found anywhere under {str(root)!r}")

    workers = min(8, os.cpu_count() or 1)  # Pillow releases the GIL while decoding and resizing
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(
            pool.map(lambda p: decode_image(p, size=image_size, channels=channels), paths)
        )
    kept = [path for path, (array, _) in zip(paths, results, strict=True) if array is not None]
    skipped = [
        (path, reason)
        for path, (array, reason) in zip(paths, results, strict=True)
        if array is None
    ]
    if not kept:
        first, reason = skipped[0]
        raise DataError(
            f"none of the {len(paths)} image files under {str(root)!r} could be read "
            f"(first: {first.name}: {reason})"
        )
    if skipped:
        first, reason = skipped[0]
        warnings.warn(
            f"skipped {len(skipped)} of {len(paths)} image files under {str(root)!r} that could "
            f"not be read (first: {first.name}: {reason})",
            stacklevel=3,
        )
    images = np.stack([array for array, _ in results if array is not None])
    return ImageFolderDataset(
        images, name=str(root), paths=kept, skipped=[path for path, _ in skipped], root=root
    )
