"""``fpa paint``: watch a trained painter build images one rank-1 update at a time."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from fpa.classes import chosen_labels
from fpa.cli.app import command
from fpa.cli.common import (
    SOURCE_HELP,
    check_images,
    pixel_size,
    refuse_to_replace,
    require_painter,
    require_positive,
    require_writable_folder,
    write_files,
)
from fpa.cli.flags import ClassName, DeviceName, FrameDuration, Overwrite, Truncation, UseEma
from fpa.cli.options import takes_options
from fpa.errors import ConfigError
from fpa.evaluation.sampling import seeded_or_read
from fpa.files import atomic_write_bytes
from fpa.generator import FastWeightPainter
from fpa.latents import check_truncation, truncate
from fpa.limits import check_seed
from fpa.models.loading import open_model

ANIMATION_FORMATS = {".gif": "gif", ".png": "apng", ".apng": "apng"}


@dataclass(frozen=True, kw_only=True)
class PaintOptions:
    """``fpa paint``'s options, declared once."""

    run: Annotated[Path, typer.Argument(help=SOURCE_HELP)]
    n: Annotated[int, typer.Option("--n", help="How many samples (two rows each).")] = 4
    seed: Annotated[int, typer.Option(help="Seed of the latents.")] = 0
    latents: Annotated[
        Path | None, typer.Option(help="Latents (N, latent_dim) from a .pt or .npy file.")
    ] = None
    every: Annotated[int, typer.Option(help="Show every K-th step (the last step always).")] = 1
    out: Annotated[Path, typer.Option(help="The figure PNG.")] = Path("painting.png")
    animate: Annotated[
        Path | None, typer.Option(help="Also write an animation: .gif, or .png/.apng.")
    ] = None
    plots: Annotated[
        Path | None,
        typer.Option(
            help="Also write each sample's keys/values/rates plots (I-keys.png, …) into this "
            "folder, created if missing; needs matplotlib (pip install 'fpa[plots]')."
        ),
    ] = None
    duration_ms: FrameDuration = 120
    scale: Annotated[
        int,
        typer.Option(
            help="Enlarge every pixel of the figure and animation to scale×scale blocks (the "
            "animation more where that makes it at least 256 px wide)."
        ),
    ] = 1
    truncation: Truncation = 1.0
    class_: ClassName = None
    device: DeviceName = "auto"
    ema: UseEma = True
    overwrite: Overwrite = False

    def check(self) -> None:
        """Refuse, before the generator is loaded, flags that cannot work together."""
        require_positive("--n", self.n)
        require_positive("--duration-ms", self.duration_ms)
        check_seed(self.seed)
        check_truncation(self.truncation)
        require_positive("--scale", self.scale)
        require_writable_folder(self.out)
        if self.animate is not None:
            require_writable_folder(self.animate)
            if self.animate.suffix.lower() not in ANIMATION_FORMATS:
                raise ConfigError(
                    f"--animate must end in .gif, .png or .apng; got {self.animate.name}"
                )
        if self.plots is not None:
            if self.plots.exists() and not self.plots.is_dir():
                raise ConfigError(f"--plots {self.plots} is a file, not a folder")
            require_writable_folder(self.plots)
        refuse_to_replace(
            ("--out", self.out), ("--animate", self.animate), overwrite=self.overwrite
        )

    def animation_format(self) -> str | None:
        return None if self.animate is None else ANIMATION_FORMATS[self.animate.suffix.lower()]

    def columns(self, generator: FastWeightPainter) -> int:
        """Tiles across a sample: one per shown step (--every checked), and one more, room for
        a refiner's column."""
        from fpa.viz.figure import shown_steps

        return len(shown_steps(generator.paint_steps, self.every)) + 1

    def check_size(self, count: int, generator: FastWeightPainter, *, columns: int) -> None:
        """Each sample is two rows of a tile per shown step (and one more with a refiner); the
        animation has a frame per shown step, each a row of all the samples, scaled."""
        pictures = [("figure", 2 * columns)] + [("animation", columns)] * bool(self.animate)
        for what, tiles in pictures:
            check_images(
                count,
                generator,
                tiles_per_image=tiles * self.scale * self.scale,
                what=f"the {what} at --scale {self.scale}",
                advice="lower --n or --scale",
            )


@command("paint")
@takes_options(PaintOptions)
def paint_command(options: PaintOptions) -> None:
    """The paper's figure: rank-1 updates above partial images M_1 … M_T, per sample, with
    the step numbers above the columns and the row labels in a margin. A conditional run
    paints --class, or its classes in turn."""
    from fpa.viz.pictures import painting_pictures

    options.check()
    loaded = open_model(options.run, ema=options.ema, device=options.device)
    generator = require_painter(loaded.generator, what="fpa paint")
    columns = options.columns(generator)
    if options.latents is None:
        options.check_size(options.n, generator, columns=columns)
    z = seeded_or_read(generator, latents=options.latents, n=options.n, seed=options.seed)
    z = truncate(z, options.truncation).to(next(generator.parameters()).device)
    options.check_size(len(z), generator, columns=columns)
    labels = chosen_labels(generator.classes, options.class_, len(z))
    painting = painting_pictures(
        generator,
        z,
        every=options.every,
        labels=None if labels is None else labels.to(z.device),
        scale=options.scale,
        animation=options.animation_format(),
        duration_ms=options.duration_ms,
        plots=options.plots is not None,
    )
    atomic_write_bytes(options.out, painting.figure)
    if options.animate is not None and painting.animation is not None:
        atomic_write_bytes(options.animate, painting.animation)
    if options.plots is not None:
        write_files(options.plots, painting.plots)
    typer.echo(
        f"wrote {options.out} ({len(z)} samples × {painting.steps} steps, "
        f"{pixel_size(painting.figure)}"
        + (
            f"; animation {options.animate}, {pixel_size(painting.animation)}"
            if painting.animation
            else ""
        )
        + (f"; {len(painting.plots)} plots in {options.plots}" if options.plots else "")
        + ")"
    )
