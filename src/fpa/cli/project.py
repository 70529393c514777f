"""``fpa project``: find the latent (and optionally the commands) a painter paints an image from."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import typer
from einops import rearrange

from fpa.cli.app import command
from fpa.cli.common import (
    OVERWRITE_HELP,
    SOURCE_HELP,
    output_folder,
    pixel_size,
    refuse_to_replace,
    require_painter,
    require_positive,
)
from fpa.cli.decompose import ANIMATION_FILES, IMAGE_HELP
from fpa.devices import resolve_device
from fpa.errors import ConfigError
from fpa.files import atomic_write_bytes
from fpa.latent_files import write_latents
from fpa.limits import check_seed


@command("project")
def project_command(
    images: list[str] = typer.Argument(..., help=IMAGE_HELP),
    run: Path = typer.Option(..., help=SOURCE_HELP),
    out: Path = typer.Option(Path("projection"), help="Folder for what is written."),
    steps: int = typer.Option(300, help="Adam steps on the latent."),
    lr: float = typer.Option(0.05, help="Adam's learning rate on the latent (cosine decay)."),
    candidates: int = typer.Option(256, help="Seeded latents the search starts from the best of."),
    feature_weight: float = typer.Option(
        1.0, help="Weight of the feature loss against the pixel loss (0: pixels only)."
    ),
    features: str = typer.Option(
        None, help="Feature extractor (default: the run's data's: digits for mnist, emoji)."
    ),
    refine_steps: int = typer.Option(
        0,
        help="Adam steps refining the painter's commands after the latent, through each "
        "step's controller features (0: none).",
    ),
    refine_lr: float = typer.Option(0.01, help="Adam's learning rate of the refinement."),
    seed: int = typer.Option(0, help="Seed of the candidate latents."),
    every: int = typer.Option(1, help="Figure: show every K-th step (the last step always)."),
    scale: int = typer.Option(
        4, help="Enlarge every pixel to scale×scale blocks (the animation to 256 px wide at least)."
    ),
    animate: str = typer.Option("gif", help="Animation format: gif or apng."),
    duration_ms: int = typer.Option(120, help="Animation: milliseconds per step."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    ema: bool = typer.Option(True, "--ema/--no-ema", help="EMA weights (default) or raw G."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
) -> None:
    """Project real images into a painter: gradient descent on a pixel loss plus a feature
    loss finds the latent whose painting matches each image; --refine-steps then refines the
    commands themselves.

    Writes into --out: reconstruction.png (per image: the image, its projection),
    painting.png and painting.gif (how the painter paints the projection, as fpa paint draws
    it), projection.json (PSNR and feature distance per image) and latents.pt (for
    fpa paint --latents; without refinement they repaint the projections exactly).
    """
    from fpa.data.image_file import item_name, read_image
    from fpa.models.loading import open_model
    from fpa.projection import project_images
    from fpa.viz import animation_bytes, figure_png, labelled_png, trace_figure, trace_frames
    from fpa.viz.figure import has_refiner, shown_steps
    from fpa.viz.interpolate import ANIMATION_WIDTH

    require_positive("--scale", scale)
    require_positive("--duration-ms", duration_ms)
    check_seed(seed)
    if animate not in ANIMATION_FILES:
        raise ConfigError(f"--animate must be gif or apng; got {animate!r}")
    output_folder(out)
    refuse_to_replace(("--out", out), overwrite=overwrite)
    loaded = open_model(run, ema=ema, device=resolve_device(device))
    painter = require_painter(loaded.generator, what="fpa project")
    shown_steps(painter.paint_steps, every)
    config = painter.config
    targets = torch.stack(
        [read_image(i, image_size=config.image_size, channels=config.channels) for i in images]
    )
    result = project_images(
        painter,
        targets,
        features=features,
        data=loaded.data,
        steps=steps,
        lr=lr,
        candidates=candidates,
        feature_weight=feature_weight,
        refine_steps=refine_steps,
        refine_lr=refine_lr,
        seed=seed,
    )
    refined = has_refiner(painter)
    figure = figure_png(
        trace_figure(result.trace, to_pixels=painter.to_pixels, every=every, refined=refined),
        scale=scale,
    )
    frames = trace_frames(result.trace, to_pixels=painter.to_pixels, every=every, refined=refined)
    animation = animation_bytes(
        frames, format=animate, duration_ms=duration_ms, scale=scale, min_width=ANIMATION_WIDTH
    )
    names = [item_name(image) for image in images]
    pairs = torch.stack([result.target, result.images])
    comparison = labelled_png(
        rearrange(pairs, "kind image c h w -> (image kind) c h w"),
        columns=2,
        column_names=["image", "projection"],
        row_names=names,
        scale=scale,
    )
    summary = {"images": list(images), "run": str(run), **result.summary()}
    out.mkdir(exist_ok=True)
    atomic_write_bytes(out / "reconstruction.png", comparison)
    atomic_write_bytes(out / "painting.png", figure)
    atomic_write_bytes(out / ANIMATION_FILES[animate], animation)
    atomic_write_bytes(out / "projection.json", (json.dumps(summary, indent=2) + "\n").encode())
    write_latents(out / "latents.pt", result.latents)
    distances = result.feature_distance
    for index, image in enumerate(names):
        distance = "" if distances is None else f", feature distance {distances[index]:.3f}"
        typer.echo(f"{image}: PSNR {result.psnr[index]:.2f} dB{distance}")
    typer.echo(
        f"wrote {out}/reconstruction.png ({pixel_size(comparison)}), painting.png, "
        f"{ANIMATION_FILES[animate]}, projection.json, latents.pt"
    )
