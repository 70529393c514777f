"""``fpa sample``: a grid (and optionally one PNG per image) from a trained generator."""

from __future__ import annotations

import math
from pathlib import Path

import typer

from fpa.cli.app import command
from fpa.cli.common import (
    OVERWRITE_HELP,
    SOURCE_HELP,
    check_images,
    pixel_size,
    refuse_to_replace,
    require_positive,
    require_writable_folder,
)
from fpa.errors import ConfigError
from fpa.evaluation.sampling import generate, grid_latents
from fpa.files import atomic_write_bytes
from fpa.latent_files import latents_format, write_latents
from fpa.latents import check_truncation, truncate
from fpa.limits import check_seed
from fpa.models.loading import open_model
from fpa.viz import labelled_png, png_bytes


@command("sample")
def sample_command(
    run: Path = typer.Argument(..., help=SOURCE_HELP),
    n: int = typer.Option(64, "--n", help="How many images."),
    seed: int = typer.Option(
        None,
        help="Seed of the latents. Default: the run's own fixed latents (those of "
        "samples/latest.png), then seed 0's beyond them.",
    ),
    latents: Path = typer.Option(None, help="Latents (N, latent_dim) from a .pt or .npy file."),
    out: Path = typer.Option(Path("samples.png"), help="The grid PNG."),
    individual: Path = typer.Option(None, help="Also write one PNG per image into this folder."),
    save_latents: Path = typer.Option(
        None, help="Write the latents used to this .npy (NumPy) or .pt (torch) file."
    ),
    scale: int = typer.Option(
        1, help="Enlarge every pixel of the grid to scale×scale blocks (not --individual)."
    ),
    truncation: float = typer.Option(
        1.0, help="Pull the latents towards their mean by this factor ψ (1: unchanged)."
    ),
    class_: str = typer.Option(
        None, "--class", help="A conditional run's class to paint: its name or index."
    ),
    per_class: int = typer.Option(
        None,
        help="A conditional run's grid of one row per class and N columns, column j the "
        "same latent in every row (replaces --n).",
    ),
    batch_size: int = typer.Option(64, help="Images generated at once."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    ema: bool = typer.Option(True, "--ema/--no-ema", help="EMA weights (default) or raw G."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
) -> None:
    """Sample images from a trained fast weight painter.

    Without --seed or --latents the grid starts with the run's own fixed latents, so
    `fpa sample RUN --n 64` shows the images of samples/latest.png (for the default
    sample_count of 64). A conditional run paints its classes in turn, or --class.
    """
    require_positive("--n", n)
    require_positive("--batch-size", batch_size)
    require_positive("--scale", scale)
    if seed is not None:
        check_seed(seed)
    check_truncation(truncation)
    require_writable_folder(out)
    if save_latents is not None:
        latents_format(save_latents, option="--save-latents")
        require_writable_folder(save_latents)
    if individual is not None and individual.exists() and not individual.is_dir():
        raise ConfigError(f"--individual {individual} is a file, not a folder")
    if individual is not None:
        require_writable_folder(individual)
    refuse_to_replace(
        ("--out", out),
        ("--save-latents", save_latents),
        ("--individual", individual),
        overwrite=overwrite,
    )
    if per_class is not None:
        require_positive("--per-class", per_class)
        if class_ is not None or latents is not None:
            raise ConfigError("--per-class draws every class: drop --class and --latents")
    loaded = open_model(run, ema=ema, device=device)
    generator = loaded.generator
    classes = generator.classes
    if per_class is not None and not classes:
        raise ConfigError("--per-class needs a conditional run (fpa train --conditional)")
    if per_class is not None:
        n = per_class * len(classes)

    def check_size(count: int, advice: str) -> None:
        check_images(
            count,
            generator,
            tiles_per_image=scale * scale,
            what=f"the grid at --scale {scale}",
            advice=advice,
        )

    if latents is None:
        check_size(n, "lower --n or --scale")
    z, labels = grid_latents(
        generator,
        n=n,
        seed=seed,
        latents=latents,
        fixed=loaded.fixed_latents,
        wanted=class_,
        per_class=per_class,
    )
    check_size(len(z), "use fewer latents or a lower --scale")
    images = generate(generator, truncate(z, truncation), labels=labels, batch_size=batch_size)
    columns = per_class or math.ceil(len(z) ** 0.5)
    if per_class is not None:  # a row per class, named
        grid = labelled_png(images, columns=columns, row_names=list(classes), scale=scale)
    else:
        grid = png_bytes(images, columns=columns, scale=scale)
    atomic_write_bytes(out, grid)
    if save_latents is not None:
        write_latents(save_latents, z)
    if individual is not None:
        individual.mkdir(exist_ok=True)
        width = len(str(len(images) - 1))
        for index, image in enumerate(images):
            png = png_bytes(image.unsqueeze(0), columns=1, padding=0)
            atomic_write_bytes(individual / f"{index:0{width}d}.png", png)
    typer.echo(f"wrote {out} ({len(images)} images, {pixel_size(grid)})")
