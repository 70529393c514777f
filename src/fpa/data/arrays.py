"""An in-memory dataset of uint8 images, read out as float32 in [-1, 1]."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from fpa.data.pixels import to_unit_range


class ImageDataset(Dataset[torch.Tensor]):
    """The base of every dataset fpa builds: a length, and float32 ``(C, H, W)`` items in
    [-1, 1]."""

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> torch.Tensor:
        raise NotImplementedError

    def class_labels(self) -> tuple[tuple[str, ...], torch.Tensor] | None:
        """The class names and one label per item, or None when the data has no classes
        (conditional training reads them through :func:`fpa.data.labels.class_labels`)."""
        return None


class ArrayDataset(ImageDataset):
    """Images held as one uint8 tensor ``(N, C, H, W)``; item ``i`` is float32 ``(C, H, W)``
    in [-1, 1] (no label). Keeping uint8 until read costs a quarter of float32's memory.

    ``labels`` (when the source has them, like MNIST's digits) index ``class_names``; they
    are what a conditional run trains on.
    """

    def __init__(
        self,
        images: np.ndarray | torch.Tensor,
        *,
        name: str,
        labels: np.ndarray | None = None,
        class_names: tuple[str, ...] = (),
    ) -> None:
        images = torch.as_tensor(images)
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(
                f"expected uint8 (N, C, H, W) images, got {images.dtype} {images.shape}"
            )
        self.images = images
        self.name = name
        self.labels = None if labels is None else torch.as_tensor(labels)
        self.class_names = tuple(class_names)

    def class_labels(self) -> tuple[tuple[str, ...], torch.Tensor] | None:
        if self.labels is None or not self.class_names:
            return None
        return self.class_names, self.labels.long()

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> torch.Tensor:
        return to_unit_range(self.images[index])

    def __repr__(self) -> str:
        n, c, h, w = self.images.shape
        return f"{type(self).__name__}({self.name!r}, {n} images, {c}x{h}x{w})"
