"""``fpa sample``: a grid (and optionally one PNG per image) from a trained generator."""

from __future__ import annotations

import math
from pathlib import Path

import torch
import typer

from fpa.cli.app import command
from fpa.cli.common import (
    chosen_latents,
    load_generator_for_cli,
    require_positive,
    require_writable_folder,
)
from fpa.errors import ConfigError
from fpa.files import atomic_write, atomic_write_bytes
from fpa.viz import png_bytes


@command("sample")
def sample_command(
    run: Path = typer.Argument(..., help="A run directory or a checkpoint file."),
    n: int = typer.Option(64, "--n", help="How many images."),
    seed: int = typer.Option(0, help="Seed of the latents."),
    latents: Path = typer.Option(None, help="Latents (N, latent_dim) from a .pt or .npy file."),
    out: Path = typer.Option(Path("samples.png"), help="The grid PNG."),
    individual: Path = typer.Option(None, help="Also write one PNG per image into this folder."),
    save_latents: Path = typer.Option(None, help="Write the latents used to this .pt file."),
    batch_size: int = typer.Option(64, help="Images generated at once."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    ema: bool = typer.Option(True, "--ema/--no-ema", help="EMA weights (default) or raw G."),
) -> None:
    """Sample images from a trained fast weight painter."""
    require_positive("--n", n)
    require_positive("--batch-size", batch_size)
    require_writable_folder(out)
    if save_latents is not None:
        require_writable_folder(save_latents)
    if individual is not None and individual.exists() and not individual.is_dir():
        raise ConfigError(f"--individual {individual} is a file, not a folder")
    if individual is not None:
        require_writable_folder(individual)
    generator = load_generator_for_cli(run, device=device, ema=ema)
    z = chosen_latents(generator, latents=latents, n=n, seed=seed)
    parameter = next(generator.parameters())
    with torch.no_grad():
        images = torch.cat(
            [generator(chunk.to(parameter.device)).cpu() for chunk in z.split(batch_size)]
        )
    atomic_write_bytes(out, png_bytes(images, columns=math.ceil(len(z) ** 0.5)))
    if save_latents is not None:
        atomic_write(save_latents, lambda file: torch.save(z, file))
    if individual is not None:
        individual.mkdir(exist_ok=True)
        width = len(str(len(images) - 1))
        for index, image in enumerate(images):
            png = png_bytes(image.unsqueeze(0), columns=1, padding=0)
            atomic_write_bytes(individual / f"{index:0{width}d}.png", png)
    typer.echo(f"wrote {out} ({len(images)} images)")
