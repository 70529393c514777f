"""``fpa sample``: a grid (and optionally one PNG per image) from a trained generator."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from torch import Tensor

from fpa.cli.app import command
from fpa.cli.common import (
    SOURCE_HELP,
    check_images,
    pixel_size,
    refuse_to_replace,
    require_positive,
    require_writable_folder,
)
from fpa.cli.flags import ClassName, DeviceName, Overwrite, Truncation, UseEma
from fpa.cli.options import takes_options
from fpa.errors import ConfigError
from fpa.evaluation.sampling import generate, grid_latents
from fpa.files import atomic_write_bytes
from fpa.latent_files import latents_format, write_latents
from fpa.latents import check_truncation, truncate
from fpa.limits import check_seed
from fpa.models.loading import open_model
from fpa.viz import labelled_png, png_bytes


@dataclass(frozen=True, kw_only=True)
class SampleOptions:
    """``fpa sample``'s options, declared once."""

    run: Annotated[Path, typer.Argument(help=SOURCE_HELP)]
    n: Annotated[int, typer.Option("--n", help="How many images.")] = 64
    seed: Annotated[
        int | None,
        typer.Option(
            help="Seed of the latents. Default: the run's own fixed latents (those of "
            "samples/latest.png), then seed 0's beyond them."
        ),
    ] = None
    latents: Annotated[
        Path | None, typer.Option(help="Latents (N, latent_dim) from a .pt or .npy file.")
    ] = None
    out: Annotated[Path, typer.Option(help="The grid PNG.")] = Path("samples.png")
    individual: Annotated[
        Path | None, typer.Option(help="Also write one PNG per image into this folder.")
    ] = None
    save_latents: Annotated[
        Path | None,
        typer.Option(help="Write the latents used to this .npy (NumPy) or .pt (torch) file."),
    ] = None
    scale: Annotated[
        int,
        typer.Option(
            help="Enlarge every pixel of the grid to scale×scale blocks (not --individual)."
        ),
    ] = 1
    truncation: Truncation = 1.0
    class_: ClassName = None
    per_class: Annotated[
        int | None,
        typer.Option(
            help="A conditional run's grid of one row per class and N columns, column j the "
            "same latent in every row (replaces --n)."
        ),
    ] = None
    batch_size: Annotated[int, typer.Option(help="Images generated at once.")] = 64
    device: DeviceName = "auto"
    ema: UseEma = True
    overwrite: Overwrite = False

    def check(self) -> None:
        """Refuse, before the generator is loaded, flags that cannot work together."""
        require_positive("--n", self.n)
        require_positive("--batch-size", self.batch_size)
        require_positive("--scale", self.scale)
        if self.seed is not None:
            check_seed(self.seed)
        check_truncation(self.truncation)
        require_writable_folder(self.out)
        if self.save_latents is not None:
            latents_format(self.save_latents, option="--save-latents")
            require_writable_folder(self.save_latents)
        individual = self.individual
        if individual is not None and individual.exists() and not individual.is_dir():
            raise ConfigError(f"--individual {individual} is a file, not a folder")
        if individual is not None:
            require_writable_folder(individual)
        refuse_to_replace(
            ("--out", self.out),
            ("--save-latents", self.save_latents),
            ("--individual", individual),
            overwrite=self.overwrite,
        )
        if self.per_class is not None:
            require_positive("--per-class", self.per_class)
            if self.class_ is not None or self.latents is not None:
                raise ConfigError("--per-class draws every class: drop --class and --latents")


@command("sample")
@takes_options(SampleOptions)
def sample_command(options: SampleOptions) -> None:
    """Sample images from a trained fast weight painter.

    Without --seed or --latents the grid starts with the run's own fixed latents, so
    `fpa sample RUN --n 64` shows the images of samples/latest.png (for the default
    sample_count of 64). A conditional run paints its classes in turn, or --class.
    """
    options.check()
    loaded = open_model(options.run, ema=options.ema, device=options.device)
    generator, per_class, scale = loaded.generator, options.per_class, options.scale
    classes = generator.classes
    if per_class is not None and not classes:
        raise ConfigError("--per-class needs a conditional run (fpa train --conditional)")
    n = options.n if per_class is None else per_class * len(classes)

    def check_size(count: int, advice: str) -> None:
        what = f"the grid at --scale {scale}"
        check_images(count, generator, tiles_per_image=scale * scale, what=what, advice=advice)

    if options.latents is None:
        check_size(n, "lower --n or --scale")
    z, labels = grid_latents(
        generator,
        n=n,
        seed=options.seed,
        latents=options.latents,
        fixed=loaded.fixed_latents,
        wanted=options.class_,
        per_class=per_class,
    )
    check_size(len(z), "use fewer latents or a lower --scale")
    pulled = truncate(z, options.truncation)
    images = generate(generator, pulled, labels=labels, batch_size=options.batch_size)
    columns = per_class or math.ceil(len(z) ** 0.5)
    if per_class is not None:  # a row per class, named
        grid = labelled_png(images, columns=columns, row_names=list(classes), scale=scale)
    else:
        grid = png_bytes(images, columns=columns, scale=scale)
    atomic_write_bytes(options.out, grid)
    if options.save_latents is not None:
        write_latents(options.save_latents, z)
    if options.individual is not None:
        write_each(options.individual, images)
    typer.echo(f"wrote {options.out} ({len(images)} images, {pixel_size(grid)})")


def write_each(folder: Path, images: Tensor) -> None:
    """``--individual``: one PNG per image, numbered from 0 with as many digits as the last."""
    folder.mkdir(exist_ok=True)
    width = len(str(len(images) - 1))
    for index, image in enumerate(images):
        png = png_bytes(image.unsqueeze(0), columns=1, padding=0)
        atomic_write_bytes(folder / f"{index:0{width}d}.png", png)
