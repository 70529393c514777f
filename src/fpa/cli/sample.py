"""``fpa sample``: a grid (and optionally one PNG per image) from a trained generator."""

from __future__ import annotations

import math
from pathlib import Path

import torch
import typer

from fpa.cli.app import command
from fpa.cli.common import (
    SOURCE_HELP,
    check_images,
    chosen_latents,
    latents_format,
    load_run_for_cli,
    pixel_size,
    require_positive,
    require_writable_folder,
    run_latents,
    write_latents,
)
from fpa.errors import ConfigError
from fpa.files import atomic_write_bytes
from fpa.latents import check_truncation, truncate
from fpa.limits import check_seed
from fpa.viz import png_bytes


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
    batch_size: int = typer.Option(64, help="Images generated at once."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    ema: bool = typer.Option(True, "--ema/--no-ema", help="EMA weights (default) or raw G."),
) -> None:
    """Sample images from a trained fast weight painter.

    Without --seed or --latents the grid starts with the run's own fixed latents, so
    `fpa sample RUN --n 64` shows the images of samples/latest.png (for the default
    sample_count of 64).
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
    generator, fixed = load_run_for_cli(run, device=device, ema=ema)

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
    if latents is None and seed is None:
        z = run_latents(generator, fixed, n)
    else:
        z = chosen_latents(generator, latents=latents, n=n, seed=seed or 0)
    check_size(len(z), "use fewer latents or a lower --scale")
    pulled = truncate(z, truncation)
    parameter = next(generator.parameters())
    with torch.no_grad():
        images = torch.cat(
            [generator(chunk.to(parameter.device)).cpu() for chunk in pulled.split(batch_size)]
        )
    grid = png_bytes(images, columns=math.ceil(len(z) ** 0.5), scale=scale)
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
