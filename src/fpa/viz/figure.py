"""The paper's painting figure: per sample, the rank-1 updates above the partial images.

Every shown matrix (update ``M_t - M_{t-1}`` or partial ``M_t``) is rescaled to the norm of the
final matrix ``M_T`` before the output activation, so a faint early step is as visible as the
finished image and the steps can be compared.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import torch
from einops import rearrange
from torch import Tensor

from fpa.errors import ConfigError
from fpa.generator import FastWeightPainter, PaintTrace

ROW_KINDS = ("update", "partial image")
# Latents painted at once by paint_figure: a painting keeps every step of every sample.
PAINT_CHUNK = 64
STEP_LABEL = "step"
LABEL_GAP = 3
IMAGE_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
WHITE: dict[str, int | tuple[int, ...]] = {"L": 255, "RGB": (255,) * 3, "RGBA": (255,) * 4}
BLACK: dict[str, int | tuple[int, ...]] = {"L": 0, "RGB": (0,) * 3, "RGBA": (0, 0, 0, 255)}


@dataclass(kw_only=True)
class PaintFigure:
    """Tiles ``(rows·columns, C, H, W)`` in ``[-1, 1]``, row by row, the grid's shape, the
    0-based steps shown and whether a last column shows the refiner."""

    tiles: Tensor
    rows: int
    columns: int
    steps: list[int]
    refined: bool = False


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
def paint_figure(
    generator: FastWeightPainter,
    z: Tensor,
    *,
    every: int = 1,
    labels: Tensor | None = None,
    chunk: int = PAINT_CHUNK,
) -> PaintFigure:
    """Two rows per latent: updates, then partial images, at every ``every``-th step
    (``labels``: the classes a conditional painter paints), painted ``chunk`` latents at a
    time, since a painting keeps every step of every sample.

    With a refiner, one more column holds the refiner's change (top) and the refined image.
    """
    z = z.to(next(generator.parameters()).device)
    chunks = z.split(chunk)
    label_chunks = [None] * len(chunks) if labels is None else labels.to(z.device).split(chunk)
    parts = [
        trace_figure(
            generator.paint_trace(part, part_labels),
            to_pixels=generator.to_pixels,
            every=every,
            refined=has_refiner(generator),
        )
        for part, part_labels in zip(chunks, label_chunks, strict=True)
    ]
    return PaintFigure(
        tiles=torch.cat([part.tiles for part in parts]),
        rows=sum(part.rows for part in parts),
        columns=parts[0].columns,
        steps=parts[0].steps,
        refined=parts[0].refined,
    )


@torch.no_grad()
def trace_figure(
    trace: PaintTrace,
    *,
    to_pixels: Callable[[Tensor], Tensor],
    every: int = 1,
    refined: bool = False,
) -> PaintFigure:
    """:func:`paint_figure` of any painting's trace, whatever painted it (a generator, or a
    decomposition that fitted the commands directly); ``to_pixels`` maps raw matrices to
    pixels, and ``refined`` adds the column of ``trace.images - trace.painted``."""
    steps = shown_steps(trace.matrices.shape[1], every)
    final = trace.matrices[:, -1]
    updates = to_pixels(rescaled(trace.updates[:, steps], final))
    partial = to_pixels(rescaled(trace.matrices[:, steps], final))
    if refined:
        change = (trace.images - trace.painted).unsqueeze(1)
        updates = torch.cat([updates, change.clamp(-1, 1)], dim=1)
        partial = torch.cat([partial, trace.images.unsqueeze(1)], dim=1)
    pairs = torch.stack([updates, partial], dim=1)
    tiles = rearrange(pairs, "batch kind column c h w -> (batch kind column) c h w")
    return PaintFigure(
        tiles=tiles,
        rows=2 * trace.matrices.shape[0],
        columns=updates.shape[1],
        steps=steps,
        refined=refined,
    )


def column_labels(figure: PaintFigure) -> list[str]:
    """The 1-based step of each column, and ``refined`` over a refiner's column."""
    return [str(step + 1) for step in figure.steps] + (["refined"] if figure.refined else [])


def row_labels(figure: PaintFigure) -> list[str]:
    """``#i update`` and ``#i partial image`` for each sample ``i``."""
    return [f"#{sample} {kind}" for sample in range(figure.rows // 2) for kind in ROW_KINDS]


def figure_png(figure: PaintFigure, *, scale: int = 1, padding: int = 2) -> bytes:
    """The figure's grid (tiles enlarged ``scale`` times) as a PNG, with the step numbers above
    its columns and the row labels in a left margin (:func:`labelled_png`)."""
    return labelled_png(
        figure.tiles,
        columns=figure.columns,
        column_names=column_labels(figure),
        row_names=row_labels(figure),
        corner=STEP_LABEL,
        scale=scale,
        padding=padding,
    )


def labelled_png(
    tiles: Tensor,
    *,
    columns: int,
    column_names: list[str] | None = None,
    row_names: list[str] | None = None,
    corner: str = "",
    scale: int = 1,
    padding: int = 2,
) -> bytes:
    """A grid of ``tiles (N, C, H, W)`` in ``[-1, 1]``, ``columns`` wide and enlarged ``scale``
    times, as a PNG with names above its columns and beside its rows, drawn by Pillow's
    default font; ``corner`` names what the column names are.

    Column names are placed from the right and one that would overlap its right neighbour
    is skipped, so the last column is always named (at a small ``scale``, a long name may
    hide a shorter one or two).
    """
    from PIL import Image, ImageDraw, ImageFont
    from torchvision.utils import make_grid

    from fpa.viz.interpolate import to_uint8
    from fpa.viz.progress import upscaled

    mode = IMAGE_MODES.get(tiles.shape[1])
    if mode is None:
        raise ConfigError(f"PNG needs 1, 3 or 4 channels; got {tiles.shape[1]}")
    tiles = upscaled(tiles.float().cpu(), scale)
    grid = make_grid(tiles, nrow=columns, padding=padding, pad_value=1.0)
    pixels = rearrange(to_uint8(grid), "c h w -> h w c").numpy()
    painted = Image.fromarray(pixels[..., 0] if mode == "L" else pixels, mode=mode)

    font = ImageFont.load_default()
    measure = ImageDraw.Draw(Image.new(mode, (1, 1)))

    def size(text: str) -> tuple[int, int]:
        *_, right, bottom = measure.textbbox((0, 0), text, font=font)
        return int(right), int(bottom)

    rows, names = row_names or [], column_names or []
    line = max(size(text)[1] for text in [*rows, *names, corner, "0"])
    left = max(size(text)[0] for text in [*rows, corner]) + 2 * LABEL_GAP if rows or corner else 0
    top = line + 2 * LABEL_GAP if names or corner else 0
    canvas = Image.new(mode, (left + painted.width, top + painted.height), WHITE[mode])
    canvas.paste(painted, (left, top))
    draw = ImageDraw.Draw(canvas)
    ink = BLACK[mode]
    tile_height, tile_width = tiles.shape[-2:]

    if corner:
        draw.text((left - LABEL_GAP - size(corner)[0], LABEL_GAP), corner, fill=ink, font=font)
    edge = canvas.width + LABEL_GAP
    for index in reversed(range(len(names))):
        width = size(names[index])[0]
        centre = left + padding + index * (tile_width + padding) + tile_width // 2
        start = min(centre - width // 2, canvas.width - width)
        if start + width + LABEL_GAP > edge or start < left:
            continue
        draw.text((start, LABEL_GAP), names[index], fill=ink, font=font)
        edge = start
    for index, text in enumerate(rows):
        middle = top + padding + index * (tile_height + padding) + tile_height // 2
        position = (left - LABEL_GAP - size(text)[0], middle - line // 2)
        draw.text(position, text, fill=ink, font=font)
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


@torch.no_grad()
def painting_frames(
    generator: FastWeightPainter,
    z: Tensor,
    *,
    every: int = 1,
    padding: int = 2,
    labels: Tensor | None = None,
) -> Tensor:
    """One frame per shown step: the samples' rescaled partial images side by side.

    Returns ``(frames, C, H', W')`` in ``[-1, 1]``; the last frame holds the final images (the
    refined ones when there is a refiner).
    """
    return trace_frames(
        generator.paint_trace(z, labels),
        to_pixels=generator.to_pixels,
        every=every,
        refined=has_refiner(generator),
        padding=padding,
    )


@torch.no_grad()
def trace_frames(
    trace: PaintTrace,
    *,
    to_pixels: Callable[[Tensor], Tensor],
    every: int = 1,
    refined: bool = False,
    padding: int = 2,
) -> Tensor:
    """:func:`painting_frames` of any painting's trace (see :func:`trace_figure`)."""
    from torchvision.utils import make_grid

    count = trace.matrices.shape[0]
    steps = shown_steps(trace.matrices.shape[1], every)
    partial = to_pixels(rescaled(trace.matrices[:, steps], trace.matrices[:, -1]))
    frames = [
        make_grid(partial[:, i], nrow=count, padding=padding, pad_value=1.0)
        for i in range(len(steps))
    ]
    if refined:
        frames.append(make_grid(trace.images, nrow=count, padding=padding, pad_value=1.0))
    return torch.stack(frames)
