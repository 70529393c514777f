"""``fpa interpolate``: animate a slerp walk through a trained generator's latent space."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from torch import nn

from fpa.classes import chosen_class
from fpa.cli.app import command
from fpa.cli.common import (
    SOURCE_HELP,
    check_images,
    pixel_size,
    refuse_to_replace,
    require_painter,
    require_positive,
    require_writable_folder,
)
from fpa.cli.flags import ClassName, DeviceName, Overwrite, Truncation
from fpa.cli.options import takes_options
from fpa.errors import ConfigError
from fpa.evaluation.sampling import seeded_or_read
from fpa.files import atomic_write_bytes
from fpa.latents import check_truncation, truncate
from fpa.limits import check_seed
from fpa.models.loading import open_model
from fpa.viz.interpolate import interpolation_path
from fpa.viz.pictures import interpolation_pictures

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


@dataclass(frozen=True, kw_only=True)
class InterpolateOptions:
    """``fpa interpolate``'s options, declared once."""

    run: Annotated[Path, typer.Argument(help=SOURCE_HELP)]
    n: Annotated[int, typer.Option("--n", help="Anchor latents to walk through (at least 2).")] = 4
    frames: Annotated[int, typer.Option(help="Frames per anchor-to-anchor segment.")] = 16
    seed: Annotated[int, typer.Option(help="Seed for the anchor latents.")] = 0
    latents: Annotated[
        Path | None,
        typer.Option(help="Anchors (K, latent_dim) from .pt/.npy; replaces --n, --seed."),
    ] = None
    loop: Annotated[
        bool, typer.Option("--loop", help="Walk back to the first anchor at the end.")
    ] = False
    out: Annotated[Path, typer.Option(help="Animation: .gif, or .png/.apng (APNG).")] = Path(
        "interp.gif"
    )
    grid: Annotated[
        Path | None, typer.Option(help="Also a PNG grid: a row per segment (--steps: per frame).")
    ] = None
    steps: Annotated[
        bool, typer.Option("--steps", help="Show the painting steps of each frame side by side.")
    ] = False
    step_columns: Annotated[int, typer.Option(help="Painting steps shown with --steps.")] = 8
    scale: Annotated[
        int,
        typer.Option(
            help="Enlarge every pixel of the animation and grid to scale×scale blocks (the "
            "animation more where that makes it at least 256 px wide)."
        ),
    ] = 1
    duration_ms: Annotated[int, typer.Option(help="Milliseconds per frame (GIF: 10 ms units).")] = (
        80
    )
    truncation: Truncation = 1.0
    class_: ClassName = None
    device: DeviceName = "auto"
    ema: Annotated[
        bool, typer.Option("--ema/--no-ema", help="EMA weights (default) or raw ones.")
    ] = True
    overwrite: Overwrite = False

    def check(self) -> str:
        """Refuse, before the generator is loaded, flags that cannot work together; the
        animation format --out asks for."""
        if self.n < 2 and self.latents is None:
            raise ConfigError(f"--n must be at least 2; got {self.n}")
        require_positive("--frames", self.frames)
        check_seed(self.seed)
        check_truncation(self.truncation)
        require_positive("--scale", self.scale)
        require_positive("--duration-ms", self.duration_ms)
        require_positive("--step-columns", self.step_columns)
        kind = animation_format(_writable(self.out, "--out"))
        if self.grid is not None:
            if self.grid.suffix.lower() != ".png":
                raise ConfigError(f"--grid must end in .png; got {self.grid.name}")
            if self.grid.resolve() == self.out.resolve():
                raise ConfigError("--grid and --out must be different files")
            _writable(self.grid, "--grid")
        refuse_to_replace(("--out", self.out), ("--grid", self.grid), overwrite=self.overwrite)
        return kind

    def check_size(self, anchor_count: int, generator: nn.Module) -> None:
        """The animation (and the grid, as large) holds every frame of the walk."""
        frames = self.frames
        count = anchor_count * frames if self.loop else (anchor_count - 1) * frames + 1
        tiles = (self.step_columns if self.steps else 1) * self.scale * self.scale
        check_images(
            count,
            generator,
            tiles_per_image=tiles,
            what=f"the animation at --scale {self.scale}",
            advice="lower --n, --frames or --scale",
        )


@command("interpolate")
@takes_options(InterpolateOptions)
def interpolate_command(options: InterpolateOptions) -> None:
    """Animate a smooth walk between latents; with --steps, how the painting process morphs.
    A conditional run walks within one --class."""
    kind = options.check()
    generator = open_model(options.run, ema=options.ema, device=options.device).generator
    label = chosen_class(generator.classes, options.class_)
    if label is None and generator.classes:
        raise ConfigError("this run paints classes: name the one to walk through with --class")
    if options.latents is None:
        options.check_size(options.n, generator)
    anchors = seeded_or_read(generator, latents=options.latents, n=options.n, seed=options.seed)
    if anchors.shape[0] < 2:
        raise ConfigError(f"{options.latents} holds {anchors.shape[0]} latent; need at least 2")
    options.check_size(anchors.shape[0], generator)
    if options.steps:
        require_painter(generator, what="fpa interpolate --steps")
    path = interpolation_path(anchors, frames_between=options.frames, loop=options.loop)
    walk = interpolation_pictures(
        generator,
        truncate(path, options.truncation),
        frames_between=options.frames,
        loop=options.loop,
        label=label,
        step_columns=options.step_columns if options.steps else None,
        animation=kind,
        duration_ms=options.duration_ms,
        scale=options.scale,
        grid=options.grid is not None,
    )
    atomic_write_bytes(options.out, walk.animation)
    if options.grid is not None and walk.grid is not None:
        atomic_write_bytes(options.grid, walk.grid)
    also = f" and {options.grid} ({pixel_size(walk.grid)})" if walk.grid is not None else ""
    typer.echo(
        f"wrote {options.out} ({walk.frames} frames through {anchors.shape[0]} anchors, "
        f"{pixel_size(walk.animation)}){also}"
    )
