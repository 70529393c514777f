"""Whether a dataset is grey or in colour, judged by its first images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fpa.data.folder import decode_image, find_images
from fpa.data.registry import DATASETS, build_dataset
from fpa.sizes import image_hw

PROBE_IMAGES = 32


def data_is_grey(
    source: str | os.PathLike[str],
    *,
    image_size: int | tuple[int, int],
    root: str | os.PathLike[str] | None = None,
    download: bool = False,
) -> bool:
    """Whether ``source``, read in RGB, has equal red, green and blue in its first
    :data:`PROBE_IMAGES` images (grey files are read into RGB that way). A folder decodes
    only those images; a bad folder or dataset raises what building it raises."""
    size = image_hw(image_size)
    probe: list[np.ndarray] = []
    folder = Path(source).expanduser()
    if str(source) not in DATASETS and folder.is_dir():
        for path in find_images(folder):
            array, _ = decode_image(path, size=size, channels=3)
            if array is not None:
                probe.append(array)
            if len(probe) == PROBE_IMAGES:
                break
    if not probe:
        dataset = build_dataset(source, image_size=size, channels=3, root=root, download=download)
        probe = [dataset[i].numpy() for i in range(min(PROBE_IMAGES, len(dataset)))]
    images = np.stack(probe)
    return bool((images[:, 0] == images[:, 1]).all() and (images[:, 1] == images[:, 2]).all())
