"""Standard datasets through torchvision: ``mnist-full``, ``fashion-mnist``, ``cifar10``,
``celeba``, ``lsun`` (church, as in the paper) and ``lsun-<category>``.

torchvision is imported only when one of these is built, so ``import fpa`` stays light. They
live under ``root`` (default :func:`fpa.data.cache.data_dir`); nothing is downloaded unless
``download=True`` (CLI: ``--download``). Items are decoded and resized when read.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch

from fpa.data.arrays import ImageDataset
from fpa.data.pixels import Fit, pil_to_uint8, to_unit_range
from fpa.errors import DataError


@dataclass(frozen=True)
class TorchvisionSource:
    """How to open one torchvision dataset, and where under ``root`` it expects its files."""

    cls: str  # class name in torchvision.datasets
    expects: str  # the folder (under root) the files must be in, for the error message
    options: dict[str, Any] = field(default_factory=dict)
    fit: Fit = "cover"  # "contain" for centred objects on a plain background
    downloadable: bool = True
    needs: str | None = None  # an extra module torchvision needs for this set


LSUN_CATEGORIES = (
    "bedroom",
    "bridge",
    "church_outdoor",
    "classroom",
    "conference_room",
    "dining_room",
    "kitchen",
    "living_room",
    "restaurant",
    "tower",
)


def _lsun(category: str) -> TorchvisionSource:
    return TorchvisionSource(
        "LSUN",
        f"{category}_train_lmdb/",
        {"classes": [f"{category}_train"]},
        downloadable=False,
        needs="lmdb",
    )


SOURCES: dict[str, TorchvisionSource] = {
    "mnist-full": TorchvisionSource("MNIST", "MNIST/raw/", {"train": True}, fit="contain"),
    "fashion-mnist": TorchvisionSource(
        "FashionMNIST", "FashionMNIST/raw/", {"train": True}, fit="contain"
    ),
    "cifar10": TorchvisionSource("CIFAR10", "cifar-10-batches-py/", {"train": True}),
    "celeba": TorchvisionSource("CelebA", "celeba/", {"split": "train", "target_type": []}),
    "lsun": _lsun("church_outdoor"),
    **{
        f"lsun-{category.replace('_outdoor', '').replace('_', '-')}": _lsun(category)
        for category in LSUN_CATEGORIES
    },
}


class TorchvisionImages(ImageDataset):
    """A torchvision dataset's images as float32 ``(C, H, W)`` in [-1, 1]."""

    def __init__(
        self, base: Any, *, name: str, size: tuple[int, int], channels: int, fit: Fit
    ) -> None:
        self.base, self.name = base, name
        self.size, self.channels, self.fit = size, channels, fit

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = self.base[index][0]
        pixels = pil_to_uint8(image, size=self.size, channels=self.channels, fit=self.fit)
        return to_unit_range(torch.from_numpy(pixels))

    def class_labels(self) -> tuple[tuple[str, ...], torch.Tensor] | None:
        """The set's ``classes`` and ``targets`` when it has both (MNIST, CIFAR-10, ...)."""
        names, targets = getattr(self.base, "classes", None), getattr(self.base, "targets", None)
        if not names or targets is None:
            return None
        return tuple(str(name) for name in names), torch.as_tensor(targets, dtype=torch.int64)

    def __repr__(self) -> str:
        return f"TorchvisionImages({self.name!r}, {len(self)} images)"


def build_torchvision(
    name: str,
    *,
    image_size: tuple[int, int],
    channels: int,
    root: str | Path | None = None,
    download: bool = False,
) -> TorchvisionImages:
    """Open torchvision dataset ``name`` under ``root``; a clear DataError if it is missing."""
    from fpa.data.cache import data_dir

    source = SOURCES[name]
    root = Path(root).expanduser() if root is not None else data_dir()
    if download and not source.downloadable:
        raise DataError(
            f"torchvision cannot download {name!r}: fetch it with the LSUN project's download "
            f"script and unpack it so that {root / source.expects} exists"
        )
    if source.needs and importlib.util.find_spec(source.needs) is None:
        raise DataError(f"the {name!r} dataset needs the package {source.needs}: pip install lmdb")
    datasets = importlib.import_module("torchvision.datasets")
    cls = getattr(datasets, source.cls)
    options = dict(source.options)
    if source.downloadable:
        options["download"] = download
    try:
        base = cls(root=str(root), **options)
    except Exception as error:  # torchvision raises RuntimeError, OSError, lmdb.Error
        reason = " ".join(str(error).split()) or type(error).__name__
        if download:
            raise DataError(f"could not download {name!r} into {root}: {reason}") from error
        fetch = (
            "pass download=True (CLI: --download) to fetch it"
            if source.downloadable
            else "torchvision cannot download it, see docs/data.md"
        )
        raise DataError(
            f"dataset {name!r} not found or incomplete: expected it in {root / source.expects} "
            f"(set root or FPA_DATA_DIR to choose the folder); {fetch} ({reason})"
        ) from error
    return TorchvisionImages(base, name=name, size=image_size, channels=channels, fit=source.fit)


FACTORIES = {name: partial(build_torchvision, name) for name in SOURCES}
