"""The one conversion every logger needs: a run's PNG sample grid as an RGB array."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def png_pixels(png: bytes) -> np.ndarray:
    """PNG bytes as ``(H, W, 3)`` uint8 RGB: what TensorBoard and W&B both take."""
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGB"))
