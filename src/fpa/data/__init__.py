"""Datasets for training painters: items are float32 ``(C, H, W)`` tensors in [-1, 1].

``build_dataset(source, image_size=(H, W), channels=C)`` takes a built-in name (embedded
``mnist``, OpenMoji ``emoji``, torchvision sets) or a path to a folder of images.
:class:`InfiniteBatches` serves them forever in a seeded order that resumes exactly.
Importing this package never imports torchvision.
"""

from fpa.data.arrays import ImageDataset
from fpa.data.batches import InfiniteBatches, infinite_batches
from fpa.data.colours import data_is_grey
from fpa.data.registry import build_dataset, dataset_names

__all__ = [
    "ImageDataset",
    "InfiniteBatches",
    "build_dataset",
    "data_is_grey",
    "dataset_names",
    "infinite_batches",
]
