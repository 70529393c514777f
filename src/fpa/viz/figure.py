"""The paper's painting figure: per sample, the rank-1 updates above the partial images.

Every shown matrix (update ``M_t - M_{t-1}`` or partial ``M_t``) is rescaled to the norm of the
final matrix ``M_T`` before the output activation, so a faint early step is as visible as the
finished image and the steps can be compared.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import rearrange
from torch import Tensor

from fpa.errors import ConfigError
from fpa.generator import FastWeightPainter


@dataclass
class PaintFigure:
    """Tiles ``(rows·columns, C, H, W)`` in ``[-1, 1]``, row by row, and the grid's shape."""

    tiles: Tensor
    rows: int
    columns: int
    steps: list[int]


def shown_steps(steps: int, every: int) -> list[int]:
    """Step indices ``every-1, 2·every-1, …`` always ending with the last step."""
    if every < 1 or every > steps:
        raise ConfigError(f"--every must be between 1 and T = {steps}; got {every}")
    chosen = list(range(every - 1, steps, every))
    return chosen if chosen[-1] == steps - 1 else [*chosen, steps - 1]


def rescaled(matrices: Tensor, final: Tensor) -> Tensor:
    """Scale each ``(B, S, C, H, W)`` matrix to the norm of ``final (B, C, H, W)``."""
    final_norm = rearrange(final.flatten(1).norm(dim=1), "batch -> batch 1 1 1 1")
    norms = matrices.flatten(2).norm(dim=2).clamp_min(1e-12)
    return matrices * (final_norm / rearrange(norms, "batch step -> batch step 1 1 1"))


def has_refiner(generator: FastWeightPainter) -> bool:
    return generator.config.refiner != "identity"


@torch.no_grad()
def paint_figure(generator: FastWeightPainter, z: Tensor, *, every: int = 1) -> PaintFigure:
    """Two rows per latent: updates, then partial images, at every ``every``-th step.

    With a refiner, one more column holds the refiner's change (top) and the refined image.
    """
    trace = generator.paint_trace(z)
    steps = shown_steps(generator.steps, every)
    final = trace.matrices[:, -1]
    activate = generator.output_activation
    updates = activate(rescaled(trace.updates[:, steps], final))
    partial = activate(rescaled(trace.matrices[:, steps], final))
    if has_refiner(generator):
        change = (trace.images - trace.painted).unsqueeze(1)
        updates = torch.cat([updates, change.clamp(-1, 1)], dim=1)
        partial = torch.cat([partial, trace.images.unsqueeze(1)], dim=1)
    pairs = torch.stack([updates, partial], dim=1)
    tiles = rearrange(pairs, "batch kind column c h w -> (batch kind column) c h w")
    return PaintFigure(tiles, rows=2 * z.shape[0], columns=updates.shape[1], steps=steps)


@torch.no_grad()
def painting_frames(
    generator: FastWeightPainter, z: Tensor, *, every: int = 1, padding: int = 2
) -> Tensor:
    """One frame per shown step: the samples' rescaled partial images side by side.

    Returns ``(frames, C, H', W')`` in ``[-1, 1]``; the last frame holds the final images (the
    refined ones when there is a refiner).
    """
    from torchvision.utils import make_grid

    trace = generator.paint_trace(z)
    steps = shown_steps(generator.steps, every)
    partial = generator.output_activation(rescaled(trace.matrices[:, steps], trace.matrices[:, -1]))
    frames = [
        make_grid(partial[:, i], nrow=len(z), padding=padding, pad_value=1.0)
        for i in range(len(steps))
    ]
    if has_refiner(generator):
        frames.append(make_grid(trace.images, nrow=len(z), padding=padding, pad_value=1.0))
    return torch.stack(frames)
