"""``fpa paint``: watch a trained painter build images one rank-1 update at a time."""

from __future__ import annotations

from pathlib import Path

import typer

from fpa.classes import chosen_labels
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

ANIMATION_FORMATS = {".gif": "gif", ".png": "apng", ".apng": "apng"}


@command("paint")
def paint_command(
    run: Path = typer.Argument(..., help=SOURCE_HELP),
    n: int = typer.Option(4, "--n", help="How many samples (two rows each)."),
    seed: int = typer.Option(0, help="Seed of the latents."),
    latents: Path = typer.Option(None, help="Latents (N, latent_dim) from a .pt or .npy file."),
    every: int = typer.Option(1, help="Show every K-th step (the last step always)."),
    out: Path = typer.Option(Path("painting.png"), help="The figure PNG."),
    animate: Path = typer.Option(None, help="Also write an animation: .gif, or .png/.apng."),
    plots: Path = typer.Option(
        None,
        help="Also write each sample's keys/values/rates plots (I-keys.png, …) into this "
        "folder, created if missing; needs matplotlib (pip install 'fpa[plots]').",
    ),
    duration_ms: int = typer.Option(120, help="Animation: milliseconds per step."),
    scale: int = typer.Option(
        1,
        help="Enlarge every pixel of the figure and animation to scale×scale blocks (the "
        "animation more where that makes it at least 256 px wide).",
    ),
    truncation: float = typer.Option(
        1.0, help="Pull the latents towards their mean by this factor ψ (1: unchanged)."
    ),
    class_: str = typer.Option(
        None, "--class", help="A conditional run's class to paint: its name or index."
    ),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    ema: bool = typer.Option(True, "--ema/--no-ema", help="EMA weights (default) or raw G."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
) -> None:
    """The paper's figure: rank-1 updates above partial images M_1 … M_T, per sample, with
    the step numbers above the columns and the row labels in a margin. A conditional run
    paints --class, or its classes in turn."""
    from fpa.viz.figure import figure_png, paint_figure, painting_frames, shown_steps

    require_positive("--n", n)
    require_positive("--duration-ms", duration_ms)
    check_seed(seed)
    check_truncation(truncation)
    require_positive("--scale", scale)
    require_writable_folder(out)
    if animate is not None:
        require_writable_folder(animate)
        if animate.suffix.lower() not in ANIMATION_FORMATS:
            raise ConfigError(f"--animate must end in .gif, .png or .apng; got {animate.name}")
    if plots is not None:
        if plots.exists() and not plots.is_dir():
            raise ConfigError(f"--plots {plots} is a file, not a folder")
        require_writable_folder(plots)
    refuse_to_replace(("--out", out), ("--animate", animate), overwrite=overwrite)
    generator = require_painter(open_model(run, ema=ema, device=device).generator, what="fpa paint")
    # Each sample is two rows of a tile per shown step (and one more with a refiner); the
    # animation has a frame per shown step, each a row of all the samples, scaled.
    columns = len(shown_steps(generator.paint_steps, every)) + 1

    def check_size(count: int) -> None:
        check_images(
            count,
            generator,
            tiles_per_image=2 * columns * scale * scale,
            what=f"the figure at --scale {scale}",
            advice="lower --n or --scale",
        )
        if animate is not None:
            check_images(
                count,
                generator,
                tiles_per_image=columns * scale * scale,
                what=f"the animation at --scale {scale}",
                advice="lower --n or --scale",
            )

    if latents is None:
        check_size(n)
    z = truncate(seeded_or_read(generator, latents=latents, n=n, seed=seed), truncation).to(
        next(generator.parameters()).device
    )
    check_size(len(z))
    labels = chosen_labels(generator.classes, class_, len(z))
    labels = None if labels is None else labels.to(z.device)
    figure = paint_figure(generator, z, every=every, labels=labels)
    figure_bytes = figure_png(figure, scale=scale)
    animation = None
    if animate is not None:
        from fpa.viz.interpolate import ANIMATION_WIDTH, animation_bytes

        frames = painting_frames(generator, z, every=every, labels=labels).cpu()
        animation = animation_bytes(
            frames,
            format=ANIMATION_FORMATS[animate.suffix.lower()],
            duration_ms=duration_ms,
            scale=scale,
            min_width=ANIMATION_WIDTH,
        )
    plot_pngs = {}
    if plots is not None:
        from fpa.viz.plots import command_plot_pngs

        plot_pngs = command_plot_pngs(generator, z, labels=labels)
    atomic_write_bytes(out, figure_bytes)
    if animation is not None:
        atomic_write_bytes(animate, animation)
    if plots is not None:
        plots.mkdir(exist_ok=True)
        for name, png in plot_pngs.items():
            atomic_write_bytes(plots / name, png)
    typer.echo(
        f"wrote {out} ({len(z)} samples × {len(figure.steps)} steps, {pixel_size(figure_bytes)}"
        + (f"; animation {animate}, {pixel_size(animation)}" if animation is not None else "")
        + (f"; {len(plot_pngs)} plots in {plots}" if plots else "")
        + ")"
    )
