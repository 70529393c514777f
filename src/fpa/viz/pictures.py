"""The pictures ``fpa paint``, ``fpa project`` and ``fpa interpolate`` write, as bytes: one call
each, so that a script gets what the command writes without the command."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from einops import rearrange
from torch import Tensor, nn

from fpa.errors import ConfigError
from fpa.generator import FastWeightPainter, PaintTrace
from fpa.viz.figure import (
    figure_png,
    has_refiner,
    labelled_png,
    paint_figure,
    painting_frames,
    trace_figure,
    trace_frames,
)
from fpa.viz.interpolate import (
    ANIMATION_WIDTH,
    animation_bytes,
    interpolation_frames,
    painting_strip,
    segment_grid,
    strip_frames,
)
from fpa.viz.progress import png_bytes


@dataclass(frozen=True, kw_only=True)
class Painting:
    """The figure PNG, the columns it shows, and the animation and plot PNGs when asked for."""

    figure: bytes
    steps: int
    animation: bytes | None = None
    plots: dict[str, bytes] = field(default_factory=dict)


def painting_pictures(
    generator: FastWeightPainter,
    z: Tensor,
    *,
    every: int = 1,
    labels: Tensor | None = None,
    scale: int = 1,
    animation: str | None = None,
    duration_ms: int = 120,
    plots: bool = False,
) -> Painting:
    """``fpa paint``: the paper's figure of ``z``'s paintings, an ``animation`` (gif or apng)
    of their steps when named, and each sample's keys/values/rates plots with ``plots``."""
    figure = paint_figure(generator, z, every=every, labels=labels)
    moving = None
    if animation is not None:
        frames = painting_frames(generator, z, every=every, labels=labels).cpu()
        moving = animation_bytes(
            frames,
            format=animation,
            duration_ms=duration_ms,
            scale=scale,
            min_width=ANIMATION_WIDTH,
        )
    plot_pngs = {}
    if plots:
        from fpa.viz.plots import command_plot_pngs

        plot_pngs = command_plot_pngs(generator, z, labels=labels)
    return Painting(
        figure=figure_png(figure, scale=scale),
        steps=len(figure.steps),
        animation=moving,
        plots=plot_pngs,
    )


@dataclass(frozen=True, kw_only=True)
class TracePictures:
    """A fitted painting's figure, animation, and comparison grid (a row per image)."""

    figure: bytes
    animation: bytes
    comparison: bytes


def trace_pictures(
    trace: PaintTrace,
    *,
    to_pixels: Callable[[Tensor], Tensor],
    compared: Sequence[Tensor],
    column_names: list[str],
    row_names: list[str],
    every: int = 1,
    refined: bool = False,
    animation: str = "gif",
    duration_ms: int = 120,
    scale: int = 1,
) -> TracePictures:
    """The pictures of a painting fitted to images (``fpa project``): its figure and
    animation as :func:`painting_pictures` draws them, and a grid whose row ``i`` holds image
    ``i`` of each of ``compared`` (named by ``column_names``)."""
    figure = trace_figure(trace, to_pixels=to_pixels, every=every, refined=refined)
    frames = trace_frames(trace, to_pixels=to_pixels, every=every, refined=refined)
    kinds = torch.stack(list(compared))
    return TracePictures(
        figure=figure_png(figure, scale=scale),
        animation=animation_bytes(
            frames,
            format=animation,
            duration_ms=duration_ms,
            scale=scale,
            min_width=ANIMATION_WIDTH,
        ),
        comparison=labelled_png(
            rearrange(kinds, "kind image c h w -> (image kind) c h w"),
            columns=len(compared),
            column_names=column_names,
            row_names=row_names,
            scale=scale,
        ),
    )


def projection_pictures(
    painter: FastWeightPainter,
    trace: PaintTrace,
    *,
    targets: Tensor,
    projected: Tensor,
    names: list[str],
    every: int = 1,
    animation: str = "gif",
    duration_ms: int = 120,
    scale: int = 1,
) -> TracePictures:
    """``fpa project``'s pictures: how ``painter`` paints the projections, and each target
    beside its projection."""
    return trace_pictures(
        trace,
        to_pixels=painter.to_pixels,
        compared=[targets, projected],
        column_names=["image", "projection"],
        row_names=names,
        every=every,
        refined=has_refiner(painter),
        animation=animation,
        duration_ms=duration_ms,
        scale=scale,
    )


@dataclass(frozen=True, kw_only=True)
class Interpolation:
    """The walk's animation, its frame count, and the grid PNG when asked for."""

    animation: bytes
    frames: int
    grid: bytes | None = None


def interpolation_pictures(
    generator: nn.Module,
    path: Tensor,
    *,
    frames_between: int,
    loop: bool = False,
    label: int | None = None,
    step_columns: int | None = None,
    animation: str = "gif",
    duration_ms: int = 80,
    scale: int = 1,
    grid: bool = False,
) -> Interpolation:
    """``fpa interpolate``: the animation of the latents of ``path`` (from
    :func:`~fpa.viz.interpolate.interpolation_path`), and with ``grid`` a PNG of a row per
    anchor-to-anchor segment. With ``step_columns`` (a painter only) each frame shows that
    many painting steps side by side, and the grid a row per frame."""
    if step_columns is not None:
        if not isinstance(generator, FastWeightPainter):
            raise ConfigError("painting steps exist only for painters, not a baseline generator")
        strips = painting_strip(generator, path, steps_shown=step_columns, label=label)
        shown = strip_frames(strips)
        grid_images = rearrange(strips, "frame step c h w -> (frame step) c h w")
        columns = strips.shape[1]
    else:
        shown = interpolation_frames(generator, path, label=label)
        grid_images = segment_grid(shown, frames_between=frames_between, loop=loop)
        columns = frames_between + 1
    return Interpolation(
        animation=animation_bytes(
            shown,
            format=animation,
            duration_ms=duration_ms,
            scale=scale,
            min_width=ANIMATION_WIDTH,
        ),
        frames=path.shape[0],
        grid=png_bytes(grid_images, columns=columns, scale=scale) if grid else None,
    )
