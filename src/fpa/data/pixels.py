"""Pixel plumbing shared by every dataset: channel conversion, resizing, [-1, 1] scaling.

All datasets keep their images as uint8 until an item is read, then map them to float32 in
[-1, 1] (docs/design.md §2). Channel conventions (``channels`` is 1, 3 or 4):

- grey -> RGB replicates the grey value; RGB -> grey is ITU-R BT.601 luma, like Pillow's "L";
- an image with an alpha channel is composited onto **white** for 1 or 3 channels;
- 4 channels are RGBA: RGB composited onto white plus the alpha channel, or fully opaque
  (alpha 255) when the source has no alpha. Dropping the alpha of a 4-channel image therefore
  gives exactly the 3-channel image.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from PIL import Image, ImageOps

from fpa.errors import ConfigError
from fpa.sizes import image_hw

_LUMA_16 = (19595, 38470, 7471)  # BT.601 luma weights in 1/65536, as Pillow's
CHANNELS = (1, 3, 4)
Fit = Literal["cover", "contain"]


def check_request(*, image_size: int | tuple[int, int], channels: int) -> tuple[int, int]:
    """Validate the requested size and channel count; return the size as (H, W)."""
    size = image_hw(image_size)
    if channels not in CHANNELS:
        raise ConfigError(f"channels must be 1, 3 or 4, got {channels!r}")
    return size


def to_channels(pixels: np.ndarray, *, channels: int) -> np.ndarray:
    """Convert uint8 ``(N, H, W, c)`` pixels (c = 1 grey, 3 RGB, 4 straight RGBA) to
    uint8 ``(N, channels, H, W)`` by the conventions in this module's docstring.

    Integer arithmetic with Pillow's own rounding (luma weights in 1/65536), so a grey image
    made here equals Pillow's ``convert("L")`` of the same RGB pixels.
    """
    if pixels.ndim == 3:
        pixels = pixels[..., None]
    source = pixels.shape[-1]
    if source not in CHANNELS:
        raise ConfigError(f"cannot convert images with {source} channels")
    planes = np.ascontiguousarray(np.moveaxis(pixels, -1, 1))  # (N, c, H, W)
    colour = planes[:, :3]
    alpha = planes[:, 3:] if source == 4 else None
    if alpha is not None:  # composite onto white: (c * a + 255 * (255 - a)) / 255, rounded
        value = 255 - colour.astype(np.uint16)
        value *= alpha
        np.subtract(65025 + 128, value, out=value)  # now 255 * composite + 128
        value += value >> 8
        value >>= 8  # (t + (t >> 8)) >> 8 == round((t - 128) / 255) exactly, without a division
        colour = value.astype(np.uint8)
    if channels == 1:
        if colour.shape[1] == 1:
            out = colour
        else:
            luma = np.full(colour[:, :1].shape, 0x8000, dtype=np.uint32)
            for index, weight in enumerate(_LUMA_16):
                luma += colour[:, index : index + 1] * np.uint32(weight)
            out = (luma >> 16).astype(np.uint8)
    else:
        out = np.repeat(colour, 3, axis=1) if colour.shape[1] == 1 else colour
        if channels == 4:
            opaque = np.full_like(out[:, :1], 255)
            out = np.concatenate([out, opaque if alpha is None else alpha], axis=1)
    return np.ascontiguousarray(out, dtype=np.uint8)


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """Map uint8 pixels to float32 in [-1, 1] (0 -> -1, 255 -> 1)."""
    return images.to(torch.float32).div_(127.5).sub_(1.0)


def normalise_mode(image: Image.Image) -> Image.Image:
    """Bring any Pillow image to "L", "RGB" or "RGBA", keeping transparency where it exists."""
    if image.mode in ("L", "RGB", "RGBA"):
        return image
    if image.mode.startswith("I"):  # 16/32-bit grey (e.g. 16-bit PNG): scale to 8 bits
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        return Image.fromarray(np.clip(np.rint(values * 255.0 / peak), 0, 255).astype(np.uint8))
    if image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8))
    if image.mode in ("LA", "La", "PA", "RGBa") or "transparency" in image.info:
        return image.convert("RGBA")
    if image.mode == "1":
        return image.convert("L")
    return image.convert("RGB")


def fit_image(image: Image.Image, *, size: tuple[int, int], fit: Fit, fill: int = 0) -> Image.Image:
    """Resize a Pillow image to ``size`` = (H, W) with antialiased bicubic resampling.

    ``cover`` scales the shorter side to fit and centre-crops the rest (photos); ``contain``
    scales the longer side to fit and pads with ``fill`` (centred objects on a plain
    background, like digits, whose strokes must not be cropped). Why resample properly: a
    28 -> 32 nearest-neighbour resize duplicates every 7th row and column and makes strokes
    uneven, and shrinking without a low-pass filter aliases; Pillow's bicubic filter widens its
    support when downscaling, so it antialiases.
    """
    height, width = size
    source_w, source_h = image.size
    if (source_h, source_w) == (height, width):
        return image
    if fit == "cover":
        scale = max(height / source_h, width / source_w)
        box_w, box_h = width / scale, height / scale
        left, top = (source_w - box_w) / 2, (source_h - box_h) / 2
        box = (left, top, left + box_w, top + box_h)
        return image.resize((width, height), Image.Resampling.BICUBIC, box=box)
    scale = min(height / source_h, width / source_w)
    inner = (max(1, round(source_w * scale)), max(1, round(source_h * scale)))
    resized = image.resize(inner, Image.Resampling.BICUBIC)
    if inner == (width, height):
        return resized
    background = (fill,) * len(resized.getbands())
    canvas = Image.new(resized.mode, (width, height), background)
    canvas.paste(resized, ((width - inner[0]) // 2, (height - inner[1]) // 2))
    return canvas


def draft_jpeg(image: Image.Image, *, size: tuple[int, int], fit: Fit) -> None:
    """Let a not yet decoded JPEG decode at 1/2, 1/4 or 1/8 scale when that still covers
    ``size``: several times faster for photos much larger than the training size."""
    if image.format != "JPEG":
        return
    width, height = image.size
    if image.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # stored rotated by 90 degrees
        width, height = height, width
    pick = max if fit == "cover" else min
    scale = pick(size[0] / height, size[1] / width)
    if scale < 1:
        image.draft(
            image.mode, (math.ceil(image.size[0] * scale), math.ceil(image.size[1] * scale))
        )


def pil_to_uint8(
    image: Image.Image, *, size: tuple[int, int], channels: int, fit: Fit, fill: int = 0
) -> np.ndarray:
    """One Pillow image -> uint8 ``(channels, H, W)``: orientation, mode, size, channels."""
    draft_jpeg(image, size=size, fit=fit)
    image = normalise_mode(ImageOps.exif_transpose(image))
    image = fit_image(image, size=size, fit=fit, fill=fill)
    return to_channels(np.asarray(image)[None], channels=channels)[0]
