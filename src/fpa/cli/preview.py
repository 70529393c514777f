"""``fpa preview``: paint a grid from an untrained generator, to see the pieces fit together."""

from __future__ import annotations

from pathlib import Path

import torch
import typer

from fpa.cli.app import command
from fpa.cli.common import OVERWRITE_HELP, refuse_to_replace
from fpa.cli.options import parse_image_size, resolve_device
from fpa.errors import ConfigError
from fpa.files import atomic_write_bytes
from fpa.generator import build_generator
from fpa.limits import check_picture, check_seed
from fpa.viz import painting_progress, png_bytes


@command("preview")
def preview_command(
    rule: str = typer.Option("delta", help="Learning rule (see `fpa plugins`)."),
    painter: str = typer.Option("lstm", help="Painter (controller) name."),
    image_size: str = typer.Option("32", help="Image size: 32 or HxW such as 32x48."),
    channels: int = typer.Option(1, help="Colour channels (1, 3 or 4)."),
    paint_steps: int = typer.Option(16, help="T: rank-1 updates per image."),
    latent_dim: int = typer.Option(64, help="Latent size."),
    n: int = typer.Option(8, "--n", help="Number of samples (rows)."),
    columns: int = typer.Option(8, help="Painting steps shown per row, ending at the last."),
    seed: int = typer.Option(0, help="Seed for weights and latents."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    stretch: bool = typer.Option(
        True, help="Stretch each image's own range to black..white (untrained output is faint)."
    ),
    out: Path = typer.Option(Path("preview.png"), help="Output PNG."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
) -> None:
    """Paint with an untrained generator: each row shows one image being painted step by step."""
    if n < 1:
        raise ConfigError(f"--n must be at least 1; got {n}")
    check_seed(seed)
    refuse_to_replace(("--out", out), overwrite=overwrite)
    if channels not in (1, 3, 4):
        raise ConfigError(f"--channels must be 1, 3 or 4; got {channels}")
    size = parse_image_size(image_size)
    shown = min(columns, paint_steps)
    check_picture(
        n * max(shown, 1) * (size[0] + 2) * (size[1] + 2),
        what=f"the preview of {n} rows × {shown} {size[0]}×{size[1]} images",
        advice="lower --image-size, --n or --columns",
    )
    torch.manual_seed(seed)
    target = resolve_device(device)
    generator = (
        build_generator(
            rule=rule,
            painter=painter,
            image_size=size,
            channels=channels,
            paint_steps=paint_steps,
            latent_dim=latent_dim,
        )
        .to(target)
        .eval()
    )
    z = generator.sample_latents(n, generator=torch.Generator().manual_seed(seed))
    frames = painting_progress(generator, z, columns=columns)
    shown = frames.shape[0] // n
    atomic_write_bytes(out, png_bytes(frames, columns=shown, stretch=stretch))
    typer.echo(f"wrote {out} ({n} samples × {shown} steps, {rule} + {painter}, on {target})")
