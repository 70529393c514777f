"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) applied to reals and fakes alike,
and the adaptive probability of ADA (Karras et al. 2020) that sets how often it applies.

Each sample is augmented with probability ``prob``; every random draw comes from the caller's
``torch.Generator``, so a training run (and its resume) stays reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor

Op = Callable[[Tensor, torch.Generator], Tensor]


def uniform(shape: tuple[int, ...], generator: torch.Generator, device) -> Tensor:
    return torch.rand(shape, generator=generator).to(device)


def flip(images: Tensor, generator: torch.Generator) -> Tensor:
    """Mirror left-right for half of the samples."""
    flipped = uniform((images.shape[0], 1, 1, 1), generator, images.device) < 0.5
    return torch.where(flipped, images.flip(-1), images)


def translation(images: Tensor, generator: torch.Generator, ratio: float = 0.125) -> Tensor:
    """Shift by up to ``ratio`` of each side, filling with zeros (mid-grey)."""
    batch, _, height, width = images.shape
    shifts = (uniform((batch, 2), generator, images.device) * 2 - 1) * ratio * 2
    theta = torch.zeros(batch, 2, 3, device=images.device, dtype=images.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, :, 2] = shifts.to(images.dtype)
    grid = F.affine_grid(theta, [batch, 1, height, width], align_corners=False)
    return F.grid_sample(images, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def cutout(images: Tensor, generator: torch.Generator, ratio: float = 0.5) -> Tensor:
    """Blank a random rectangle of ``ratio`` of each side."""
    batch, _, height, width = images.shape
    centres = uniform((batch, 2), generator, images.device)
    rows = torch.arange(height, device=images.device) / height
    cols = torch.arange(width, device=images.device) / width
    inside_rows = (rows[None, :] - centres[:, :1]).abs() < ratio / 2
    inside_cols = (cols[None, :] - centres[:, 1:]).abs() < ratio / 2
    hole = rearrange(inside_rows, "b h -> b 1 h 1") & rearrange(inside_cols, "b w -> b 1 1 w")
    return images.masked_fill(hole, 0.0)


def color(images: Tensor, generator: torch.Generator) -> Tensor:
    """Random brightness, saturation and contrast, as in DiffAugment."""
    batch = images.shape[0]
    draws = uniform((batch, 3), generator, images.device).to(images.dtype)
    brightness = rearrange(draws[:, 0] - 0.5, "b -> b 1 1 1")
    saturation = rearrange(draws[:, 1] * 2, "b -> b 1 1 1")
    contrast = rearrange(draws[:, 2] + 0.5, "b -> b 1 1 1")
    images = images + brightness
    channel_mean = images.mean(dim=1, keepdim=True)
    images = (images - channel_mean) * saturation + channel_mean
    image_mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return (images - image_mean) * contrast + image_mean


OPS: dict[str, Op] = {"flip": flip, "translation": translation, "cutout": cutout, "color": color}


class DiffAugment:
    """Apply the named ops, in order, to a random subset (probability ``prob``) of samples.

    At probability 0 it draws nothing, so a run whose adaptive probability stays at 0 is the
    same run, bit for bit, as one without augmentation."""

    def __init__(self, *, ops: tuple[str, ...]) -> None:
        self.ops = [OPS[name] for name in ops]

    def __call__(self, images: Tensor, generator: torch.Generator, *, prob: float) -> Tensor:
        if not self.ops or prob == 0:
            return images
        augmented = images
        for op in self.ops:
            augmented = op(augmented, generator)
        chosen = uniform((images.shape[0], 1, 1, 1), generator, images.device) < prob
        return torch.where(chosen, augmented, images)


def adapted_probability(
    prob: float, *, real_sign: float, target: float, images: int, adapt_images: int, ceiling: float
) -> float:
    """ADA's update: when D calls more of the (augmented) reals real than ``target`` (the mean
    sign of its logits on them, ``real_sign``, is above it) D is overfitting and the
    probability rises; below, it falls; by ``images / adapt_images`` per update, kept in
    ``[0, ceiling]``. ``images`` is the number of reals D saw since the last update."""
    direction = math.copysign(1.0, real_sign - target) if real_sign != target else 0.0
    return min(max(prob + direction * images / adapt_images, 0.0), ceiling)
