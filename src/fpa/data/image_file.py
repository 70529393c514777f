"""One image to work on (decompose, project): a file, or an item of a built-in dataset.

``digit.png`` is read like a folder's images (orientation, mode, centre crop to the size,
fpa's channel conventions); ``mnist:7`` is item 7 of the built-in digits, so examples and
docs need no image file. Pixels are float32 ``(C, H, W)`` in [-1, 1].
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from fpa.data.folder import decode_image
from fpa.data.pixels import check_request, to_unit_range
from fpa.data.registry import build_dataset
from fpa.errors import DataError

# Built-in sets an image may be taken from by index (those shipped with fpa: no download).
BUILT_IN = {"mnist": 1, "emoji": 3}
ITEM = re.compile(r"(?P<data>[a-z-]+):(?P<index>\d+)")


def natural_channels(source: str | Path, *, image_size: tuple[int, int]) -> int:
    """1 for a grey image (red = green = blue) or a grey built-in set, else 3."""
    item = ITEM.fullmatch(str(source))
    if item is not None and item["data"] in BUILT_IN and not Path(source).exists():
        return BUILT_IN[item["data"]]
    rgb = read_uint8(source, image_size=image_size, channels=3)
    return 1 if bool((rgb[0] == rgb[1]).all() and (rgb[1] == rgb[2]).all()) else 3


def read_image(
    source: str | Path, *, image_size: tuple[int, int], channels: int | None = None
) -> torch.Tensor:
    """The image ``source`` (a file, or ``DATA:INDEX`` of ``mnist`` or ``emoji``) as float32
    ``(C, H, W)`` in [-1, 1]; ``channels`` None keeps its own (1 grey, 3 colour)."""
    size = check_request(image_size=image_size, channels=channels or 1)
    chosen = channels or natural_channels(source, image_size=size)
    pixels = np.array(read_uint8(source, image_size=size, channels=chosen))  # a writable copy
    return to_unit_range(torch.from_numpy(pixels))


def item_name(source: str | Path) -> str:
    """How to name ``source`` in a figure or a line of output: a file by its name, an item of a
    built-in set with its class, so ``mnist:1`` (the item at index 1) reads ``mnist:1 (a 5)``
    and is not taken for the digit 1."""
    item = ITEM.fullmatch(str(source))
    if item is None or item["data"] not in BUILT_IN or Path(source).exists():
        return Path(source).name or str(source)
    dataset = build_dataset(item["data"], image_size=(32, 32), channels=BUILT_IN[item["data"]])
    found = dataset.class_labels()
    index = int(item["index"])
    if found is None or index >= len(found[1]):
        return str(source)
    names, labels = found
    return f"{source} (a {names[int(labels[index])]})"


def read_uint8(source: str | Path, *, image_size: tuple[int, int], channels: int) -> np.ndarray:
    path = Path(source).expanduser()
    item = ITEM.fullmatch(str(source))
    if not path.exists() and item is not None and item["data"] in BUILT_IN:
        dataset = build_dataset(item["data"], image_size=image_size, channels=channels)
        index = int(item["index"])
        if index >= len(dataset):
            raise DataError(
                f"{source}: {item['data']} has {len(dataset)} images (0 to {len(dataset) - 1})"
            )
        return ((dataset[index] + 1) * 127.5).round().to(torch.uint8).numpy()
    if not path.is_file():
        known = ", ".join(f"{name}:INDEX" for name in BUILT_IN)
        raise DataError(f"image {str(source)!r} is not a file (nor one of {known})")
    array, reason = decode_image(path, size=image_size, channels=channels)
    if array is None:
        raise DataError(f"cannot read image {str(path)!r}: {reason}")
    return array
