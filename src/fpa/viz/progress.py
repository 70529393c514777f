"""Partial images ``M_1 … M_T`` of a painting, made comparable across steps."""

from __future__ import annotations

import io

import torch
from einops import rearrange, repeat
from torch import Tensor

from fpa.errors import ConfigError
from fpa.generator import FastWeightPainter


def step_indices(steps: int, columns: int) -> list[int]:
    """``columns`` step indices spread evenly over ``0 … steps-1``, always ending at the last."""
    if columns < 1:
        raise ConfigError(f"need at least one column; got {columns}")
    columns = min(columns, steps)
    return sorted({round(i * (steps - 1) / max(columns - 1, 1)) for i in range(columns)})


@torch.no_grad()
def painting_progress(
    generator: FastWeightPainter, z: Tensor, *, columns: int = 8, labels: Tensor | None = None
) -> Tensor:
    """Rows of partial images, one row per latent: ``(n·columns, C, H, W)`` in ``[-1, 1]``.

    Each partial matrix is rescaled to the final matrix's norm before the output activation,
    so an early, faint step is as visible as the finished image.
    """
    trace = generator.paint_trace(z, labels)
    chosen = trace.matrices[:, step_indices(generator.paint_steps, columns)]
    final_norm = trace.matrices[:, -1:].flatten(2).norm(dim=-1)
    chosen_norm = chosen.flatten(2).norm(dim=-1).clamp_min(1e-12)
    scale = rearrange(final_norm / chosen_norm, "batch step -> batch step 1 1 1")
    frames = generator.to_pixels(chosen * scale)
    return rearrange(frames, "batch step channel row col -> (batch step) channel row col")


def upscaled(images: Tensor, scale: int) -> Tensor:
    """``images (N, C, H, W)`` with every pixel a ``scale × scale`` block (nearest neighbour)."""
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ConfigError(f"scale must be a positive integer; got {scale!r}")
    if scale == 1:
        return images
    return repeat(images, "n c h w -> n c (h sh) (w sw)", sh=scale, sw=scale)


def png_bytes(
    images: Tensor, *, columns: int, stretch: bool = False, padding: int = 2, scale: int = 1
) -> bytes:
    """A grid of ``images (N, C, H, W)`` in ``[-1, 1]`` encoded as PNG by torchvision.

    ``stretch`` maps each image's own min..max to black..white: faint structure (an untrained
    generator's near-zero output) becomes visible. ``scale`` enlarges every tile's pixels to
    ``scale × scale`` blocks (the padding between tiles stays ``padding`` pixels).
    """
    from torchvision.utils import save_image

    if images.shape[1] not in (1, 3, 4):
        raise ConfigError(f"PNG needs 1, 3 or 4 channels; got {images.shape[1]}")
    buffer = io.BytesIO()
    save_image(
        upscaled(images.float().cpu(), scale),
        buffer,
        nrow=columns,
        normalize=True,
        value_range=None if stretch else (-1, 1),
        scale_each=stretch,
        padding=padding,
        pad_value=1.0,
        format="png",
    )
    return buffer.getvalue()
