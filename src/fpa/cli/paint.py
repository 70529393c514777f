"""``fpa paint``: watch a trained painter build images one rank-1 update at a time."""

from __future__ import annotations

from pathlib import Path

import typer

from fpa.cli.app import command
from fpa.cli.common import (
    chosen_latents,
    load_generator_for_cli,
    require_painter,
    require_positive,
    require_writable_folder,
)
from fpa.errors import ConfigError
from fpa.files import atomic_write_bytes
from fpa.viz import png_bytes

ANIMATION_FORMATS = {".gif": "gif", ".png": "apng", ".apng": "apng"}


@command("paint")
def paint_command(
    run: Path = typer.Argument(..., help="A run directory or a checkpoint file."),
    n: int = typer.Option(4, "--n", help="How many samples (two rows each)."),
    seed: int = typer.Option(0, help="Seed of the latents."),
    latents: Path = typer.Option(None, help="Latents (N, latent_dim) from a .pt or .npy file."),
    every: int = typer.Option(1, help="Show every K-th step (the last step always)."),
    out: Path = typer.Option(Path("painting.png"), help="The figure PNG."),
    animate: Path = typer.Option(None, help="Also write an animation: .gif, or .png/.apng."),
    plots: Path = typer.Option(None, help="Also write keys/values/rates plots into this folder."),
    duration_ms: int = typer.Option(120, help="Animation: milliseconds per step."),
    scale: int = typer.Option(4, help="Animation: integer upscaling of each pixel."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    ema: bool = typer.Option(True, "--ema/--no-ema", help="EMA weights (default) or raw G."),
) -> None:
    """The paper's figure: rank-1 updates above partial images M_1 … M_T, per sample."""
    from fpa.viz.figure import paint_figure, painting_frames, shown_steps

    require_positive("--n", n)
    require_positive("--duration-ms", duration_ms)
    require_positive("--scale", scale)
    require_writable_folder(out)
    if animate is not None:
        require_writable_folder(animate)
        if animate.suffix.lower() not in ANIMATION_FORMATS:
            raise ConfigError(f"--animate must end in .gif, .png or .apng; got {animate.name}")
    if plots is not None and not plots.is_dir():
        raise ConfigError(f"--plots folder {plots} does not exist")
    generator = require_painter(
        load_generator_for_cli(run, device=device, ema=ema), what="fpa paint"
    )
    shown_steps(generator.steps, every)
    z = chosen_latents(generator, latents=latents, n=n, seed=seed).to(
        next(generator.parameters()).device
    )
    figure = paint_figure(generator, z, every=every)
    figure_png = png_bytes(figure.tiles, columns=figure.columns)
    animation = None
    if animate is not None:
        from fpa.viz.interpolate import animation_bytes

        frames = painting_frames(generator, z, every=every).cpu()
        animation = animation_bytes(
            frames,
            format=ANIMATION_FORMATS[animate.suffix.lower()],
            duration_ms=duration_ms,
            scale=scale,
        )
    if plots is not None:
        from fpa.viz.plots import save_command_plots

        save_command_plots(generator, z, plots)
    atomic_write_bytes(out, figure_png)
    if animation is not None:
        atomic_write_bytes(animate, animation)
    typer.echo(
        f"wrote {out} ({len(z)} samples × {len(figure.steps)} steps"
        + (f"; animation {animate}" if animate else "")
        + (f"; plots in {plots}" if plots else "")
        + ")"
    )
