"""``fpa interpolate``: animate a slerp walk through a trained generator's latent space."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from einops import rearrange

from fpa.classes import chosen_class
from fpa.cli.app import command
from fpa.cli.common import (
    OVERWRITE_HELP,
    SOURCE_HELP,
    check_images,
    pixel_size,
    refuse_to_replace,
    require_painter,
    require_positive,
    require_writable_folder,
)
from fpa.errors import ConfigError
from fpa.evaluation.sampling import seeded_or_read
from fpa.files import atomic_write_bytes
from fpa.latents import check_truncation, truncate
from fpa.limits import check_seed
from fpa.models.loading import open_model
from fpa.viz.interpolate import (
    ANIMATION_WIDTH,
    animation_bytes,
    interpolation_frames,
    interpolation_path,
    painting_strip,
    segment_grid,
    strip_frames,
)
from fpa.viz.progress import png_bytes

FORMATS = {".gif": "gif", ".png": "apng", ".apng": "apng"}


def _writable(path: Path, option: str) -> Path:
    """An output path whose folder exists and can be written, and that is not a folder."""
    require_writable_folder(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a folder, not a file")
    if not os.access(folder, os.W_OK):
        raise ConfigError(f"cannot write {path}: folder {folder} is not writable")
    return path


def animation_format(out: Path) -> str:
    """The animation format an output suffix asks for (.gif: GIF; .png or .apng: APNG)."""
    chosen = FORMATS.get(out.suffix.lower())
    if chosen is None:
        raise ConfigError(f"--out must end in .gif, .png or .apng; got {out.name}")
    return chosen


@command("interpolate")
def interpolate_command(
    run: Path = typer.Argument(..., help=SOURCE_HELP),
    n: int = typer.Option(4, "--n", help="Anchor latents to walk through (at least 2)."),
    frames: int = typer.Option(16, help="Frames per anchor-to-anchor segment."),
    seed: int = typer.Option(0, help="Seed for the anchor latents."),
    latents: Path = typer.Option(
        None, help="Anchors (K, latent_dim) from .pt/.npy; replaces --n, --seed."
    ),
    loop: bool = typer.Option(False, "--loop", help="Walk back to the first anchor at the end."),
    out: Path = typer.Option(Path("interp.gif"), help="Animation: .gif, or .png/.apng (APNG)."),
    grid: Path = typer.Option(
        None, help="Also a PNG grid: a row per segment (--steps: per frame)."
    ),
    steps: bool = typer.Option(
        False, "--steps", help="Show the painting steps of each frame side by side."
    ),
    step_columns: int = typer.Option(8, help="Painting steps shown with --steps."),
    scale: int = typer.Option(
        1,
        help="Enlarge every pixel of the animation and grid to scale×scale blocks (the "
        "animation more where that makes it at least 256 px wide).",
    ),
    duration_ms: int = typer.Option(80, help="Milliseconds per frame (GIF: 10 ms units)."),
    truncation: float = typer.Option(
        1.0, help="Pull the latents towards their mean by this factor ψ (1: unchanged)."
    ),
    class_: str = typer.Option(
        None, "--class", help="A conditional run's class to paint: its name or index."
    ),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    ema: bool = typer.Option(True, "--ema/--no-ema", help="EMA weights (default) or raw ones."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
) -> None:
    """Animate a smooth walk between latents; with --steps, how the painting process morphs.
    A conditional run walks within one --class."""
    if n < 2 and latents is None:
        raise ConfigError(f"--n must be at least 2; got {n}")
    require_positive("--frames", frames)
    check_seed(seed)
    check_truncation(truncation)
    require_positive("--scale", scale)
    require_positive("--duration-ms", duration_ms)
    require_positive("--step-columns", step_columns)
    kind = animation_format(_writable(out, "--out"))
    if grid is not None:
        if grid.suffix.lower() != ".png":
            raise ConfigError(f"--grid must end in .png; got {grid.name}")
        if grid.resolve() == out.resolve():
            raise ConfigError("--grid and --out must be different files")
        _writable(grid, "--grid")
    refuse_to_replace(("--out", out), ("--grid", grid), overwrite=overwrite)
    generator = open_model(run, ema=ema, device=device).generator
    label = chosen_class(generator.classes, class_)
    if label is None and generator.classes:
        raise ConfigError("this run paints classes: name the one to walk through with --class")

    def check_size(anchor_count: int) -> None:
        """The animation (and the grid, as large) holds every frame of the walk."""
        count = anchor_count * frames if loop else (anchor_count - 1) * frames + 1
        tiles = (step_columns if steps else 1) * scale * scale
        check_images(
            count,
            generator,
            tiles_per_image=tiles,
            what=f"the animation at --scale {scale}",
            advice="lower --n, --frames or --scale",
        )

    if latents is None:
        check_size(n)
    anchors = seeded_or_read(generator, latents=latents, n=n, seed=seed)
    if anchors.shape[0] < 2:
        raise ConfigError(f"{latents} holds {anchors.shape[0]} latent; need at least 2")
    check_size(anchors.shape[0])

    path = truncate(interpolation_path(anchors, frames_between=frames, loop=loop), truncation)
    if steps:
        painter = require_painter(generator, what="fpa interpolate --steps")
        strips = painting_strip(painter, path, steps_shown=step_columns, label=label)
        shown = strip_frames(strips)
        grid_images = rearrange(strips, "frame step c h w -> (frame step) c h w")
        columns = strips.shape[1]
    else:
        shown = interpolation_frames(generator, path, label=label)
        grid_images = segment_grid(shown, frames_between=frames, loop=loop)
        columns = frames + 1
    animation = animation_bytes(
        shown, format=kind, duration_ms=duration_ms, scale=scale, min_width=ANIMATION_WIDTH
    )
    grid_png = png_bytes(grid_images, columns=columns, scale=scale) if grid is not None else None

    atomic_write_bytes(out, animation)
    if grid_png is not None:
        atomic_write_bytes(grid, grid_png)
    also = f" and {grid} ({pixel_size(grid_png)})" if grid_png is not None else ""
    typer.echo(
        f"wrote {out} ({path.shape[0]} frames through {anchors.shape[0]} anchors, "
        f"{pixel_size(animation)}){also}"
    )
