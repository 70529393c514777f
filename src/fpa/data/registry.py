"""Dataset names -> factories, and :func:`build_dataset`, the one way to get a dataset."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from fpa.data.arrays import ImageDataset
from fpa.data.emoji import build_emoji
from fpa.data.folder import build_folder
from fpa.data.icon_themes import FACTORIES as ICON_FACTORIES
from fpa.data.mnist import build_mnist
from fpa.data.pixels import check_request
from fpa.data.torchvision_sets import FACTORIES as TORCHVISION_FACTORIES
from fpa.errors import DataError, did_you_mean

Factory = Callable[..., ImageDataset]

# Every factory takes keyword-only image_size=(H, W), channels, root and download.
DATASETS: dict[str, Factory] = {
    "mnist": build_mnist,
    "emoji": build_emoji,
    **ICON_FACTORIES,
    **TORCHVISION_FACTORIES,
}


def dataset_names() -> list[str]:
    """The built-in dataset names, sorted; anything else given as a source is a folder path."""
    return sorted(DATASETS)


def build_dataset(
    source: str | os.PathLike[str],
    *,
    image_size: int | tuple[int, int],
    channels: int,
    root: str | os.PathLike[str] | None = None,
    download: bool = False,
) -> ImageDataset:
    """Build a dataset whose items are float32 ``(channels, H, W)`` tensors in [-1, 1].

    ``source`` is a built-in name (see :func:`dataset_names`) or a path to a folder of images.
    ``image_size`` is (H, W) (an int means square). ``root`` and ``download`` apply to the
    torchvision datasets: where their files live and whether to fetch them if missing.
    """
    size = check_request(image_size=image_size, channels=channels)
    factory = DATASETS.get(str(source))
    if factory is not None:
        return factory(image_size=size, channels=channels, root=root, download=download)
    path = Path(source).expanduser()
    if path.exists() or len(path.parts) > 1:  # a path-like source: the folder explains itself
        return build_folder(path, image_size=size, channels=channels, root=root, download=download)
    raise DataError(
        f"unknown dataset {str(source)!r}{did_you_mean(str(source), DATASETS)} (not a built-in "
        f"name: {', '.join(dataset_names())}; and no folder at {str(path)!r})"
    )
