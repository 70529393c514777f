"""``fpa decompose``: fit a learning rule's T rank-1 updates to an image, with no painter."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import typer
from einops import rearrange

from fpa.cli.app import command
from fpa.cli.common import (
    OVERWRITE_HELP,
    output_folder,
    pixel_size,
    refuse_to_replace,
    require_positive,
)
from fpa.errors import ConfigError
from fpa.files import atomic_write, atomic_write_bytes
from fpa.limits import check_memory, check_picture, check_seed
from fpa.sizes import format_size, parse_image_size

# painting.png is the figure, so an APNG animation takes another name.
ANIMATION_FILES = {"gif": "painting.gif", "apng": "painting-animation.png"}
IMAGE_HELP = (
    "Image files, or items of the built-in data by position: mnist:7 is the image at index 7 "
    "of the digits (whatever digit it shows; the output names it), emoji:12 likewise."
)


def check_decomposition_size(
    count: int, *, steps: int, every: int, size: tuple[int, int], scale: int
) -> None:
    """Refuse, before an image is read, a decomposition whose figure is too large to write or
    whose trace (every step's matrix and update, in float64) cannot fit this machine."""
    height, width = size
    tile = (height + 2) * (width + 2) * scale * scale
    shown = -(-steps // every)
    check_picture(
        count * 2 * shown * tile,
        what=f"the figure of {count:,} {format_size(size)} images over {shown:,} steps",
        advice="lower --image-size, --steps or --scale, or raise --every",
    )
    check_memory(
        16 * count * steps * height * width,
        what=f"the trace of {steps:,} steps of {count:,} {format_size(size)} images",
        device="cpu",
        advice="lower --steps or --image-size",
    )


@command("decompose")
def decompose_command(
    images: list[str] = typer.Argument(..., help=IMAGE_HELP),
    rule: str = typer.Option("delta", help="The learning rule (fpa plugins lists them)."),
    steps: int = typer.Option(16, help="T: rank-1 updates per channel."),
    out: Path = typer.Option(Path("decomposition"), help="Folder for what is written."),
    image_size: str = typer.Option("32", help="Size the images are read at: 32 or 32x48."),
    channels: int = typer.Option(None, help="1, 3 or 4 (default: the image's own, 1 or 3)."),
    key_activation: str = typer.Option("softmax", help="As a painter's head: softmax, l2, none…"),
    value_activation: str = typer.Option("none", help="As a painter's head."),
    rate_activation: str = typer.Option("softplus", help="As a painter's head."),
    output_activation: str = typer.Option(
        "none", help="none: paint M_T itself (the SVD bounds it); tanh: as a painter does."
    ),
    per_row_rate: bool = typer.Option(False, "--per-row-rate", help="One rate per row."),
    iterations: int = typer.Option(1000, help="Adam steps."),
    lr: float = typer.Option(0.05, help="Adam's learning rate (cosine decay to 0)."),
    seed: int = typer.Option(0, help="Seed of the starting commands."),
    every: int = typer.Option(1, help="Figure: show every K-th step (the last step always)."),
    scale: int = typer.Option(
        4, help="Enlarge every pixel to scale×scale blocks (the animation to 256 px wide at least)."
    ),
    animate: str = typer.Option("gif", help="Animation format: gif or apng."),
    duration_ms: int = typer.Option(120, help="Animation: milliseconds per step."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
) -> None:
    """Fit keys, values and rates so that RULE's T updates paint each image, and compare with
    the truncated SVD of rank T (the best any T rank-1 updates can do, by Eckart–Young).

    Writes into --out: painting.png (updates above partial images, as fpa paint draws them),
    painting.gif (or painting-animation.png), reconstruction.png (per image: target, painting, SVD),
    decomposition.json (the errors per step) and commands.pt (the fitted commands).
    """
    from fpa.data.image_file import item_name, read_image
    from fpa.decomposition import decompose
    from fpa.viz import animation_bytes, figure_png, labelled_png, trace_figure, trace_frames
    from fpa.viz.figure import shown_steps
    from fpa.viz.interpolate import ANIMATION_WIDTH

    require_positive("--steps", steps)
    require_positive("--iterations", iterations)
    require_positive("--scale", scale)
    require_positive("--duration-ms", duration_ms)
    check_seed(seed)
    shown_steps(steps, every)
    if animate not in ANIMATION_FILES:
        raise ConfigError(f"--animate must be gif or apng; got {animate!r}")
    output_folder(out)
    refuse_to_replace(("--out", out), overwrite=overwrite)
    size = parse_image_size(image_size)
    check_decomposition_size(len(images), steps=steps, every=every, size=size, scale=scale)
    targets = [read_image(image, image_size=size, channels=channels) for image in images]
    if len({tuple(target.shape) for target in targets}) > 1:
        raise ConfigError("the images have different channels; choose them with --channels")
    result = decompose(
        torch.stack(targets),
        rule=rule,
        steps=steps,
        key_activation=key_activation,
        value_activation=value_activation,
        rate_activation=rate_activation,
        output_activation=output_activation,
        per_row_rate=per_row_rate,
        iterations=iterations,
        lr=lr,
        seed=seed,
    )
    figure = figure_png(
        trace_figure(result.trace, to_pixels=result.to_pixels, every=every), scale=scale
    )
    frames = trace_frames(result.trace, to_pixels=result.to_pixels, every=every)
    animation = animation_bytes(
        frames, format=animate, duration_ms=duration_ms, scale=scale, min_width=ANIMATION_WIDTH
    )
    names = [item_name(image) for image in images]
    triples = torch.stack([result.target, result.trace.painted, result.to_pixels(result.svd())])
    comparison = labelled_png(
        rearrange(triples, "kind image c h w -> (image kind) c h w"),
        columns=3,
        column_names=["image", f"{rule}, T={steps}", f"SVD, rank {steps}"],
        row_names=names,
        scale=scale,
    )
    summary = {"images": list(images), **result.summary()}
    out.mkdir(exist_ok=True)
    atomic_write_bytes(out / "painting.png", figure)
    animation_path = out / ANIMATION_FILES[animate]
    atomic_write_bytes(animation_path, animation)
    atomic_write_bytes(out / "reconstruction.png", comparison)
    atomic_write_bytes(out / "decomposition.json", (json.dumps(summary, indent=2) + "\n").encode())
    fitted = {
        "keys": result.commands.keys,
        "values": result.commands.values,
        "rates": result.commands.rates,
        **result.commands.extra,
    }
    atomic_write(out / "commands.pt", lambda file: torch.save(fitted, file))
    # Through a non-linear output activation the painting is not of rank T: the SVD compares.
    kind = "bound" if output_activation == "none" else "a comparison, not a bound"
    for index, image in enumerate(names):
        typer.echo(
            f"{image}: {rule}, T = {steps}: relative error {result.error[index]:.4f}, "
            f"truncated SVD of rank {steps} ({kind}): {result.svd_error[index]:.4f}"
        )
    typer.echo(
        f"wrote {out}/painting.png ({pixel_size(figure)}), {animation_path.name}, "
        "reconstruction.png, decomposition.json, commands.pt"
    )
