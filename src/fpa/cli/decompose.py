"""``fpa decompose``: fit a learning rule's T rank-1 updates to an image, with no painter."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import torch
import typer

from fpa.cli.app import command
from fpa.cli.common import (
    json_bytes,
    output_folder,
    pixel_size,
    refuse_to_replace,
    require_positive,
    write_files,
)
from fpa.cli.flags import AnimationFormat, AnimationScale, EveryStep, FrameDuration, Overwrite
from fpa.cli.options import parse_set_options, takes_options
from fpa.errors import ConfigError
from fpa.files import atomic_write
from fpa.limits import check_memory, check_picture, check_seed
from fpa.sizes import format_size, parse_image_size

if TYPE_CHECKING:
    from fpa.decomposition import Decomposition

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


@dataclass(frozen=True, kw_only=True)
class DecomposeOptions:
    """``fpa decompose``'s options, declared once."""

    images: Annotated[list[str], typer.Argument(help=IMAGE_HELP)]
    rule: Annotated[str, typer.Option(help="The learning rule (fpa plugins lists them).")] = "delta"
    rule_option: Annotated[
        list[str] | None,
        typer.Option(
            "--rule-option",
            help="An option of the rule as KEY=VALUE (TOML value), repeatable, e.g. "
            "--rule-option per_column_gate=true",
        ),
    ] = None
    steps: Annotated[int, typer.Option(help="T: rank-1 updates per channel.")] = 16
    out: Annotated[Path, typer.Option(help="Folder for what is written.")] = Path("decomposition")
    image_size: Annotated[str, typer.Option(help="Size the images are read at: 32 or 32x48.")] = (
        "32"
    )
    channels: Annotated[
        int | None, typer.Option(help="1, 3 or 4 (default: the image's own, 1 or 3).")
    ] = None
    key_activation: Annotated[str, typer.Option(help="As a painter's head: softmax, l2, none…")] = (
        "softmax"
    )
    value_activation: Annotated[str, typer.Option(help="As a painter's head.")] = "none"
    rate_activation: Annotated[str, typer.Option(help="As a painter's head.")] = "softplus"
    output_activation: Annotated[
        str,
        typer.Option(help="none: paint M_T itself (the SVD bounds it); tanh: as a painter does."),
    ] = "none"
    per_row_rate: Annotated[bool, typer.Option("--per-row-rate", help="One rate per row.")] = False
    iterations: Annotated[int, typer.Option(help="Adam steps.")] = 1000
    lr: Annotated[float, typer.Option(help="Adam's learning rate (cosine decay to 0).")] = 0.05
    seed: Annotated[int, typer.Option(help="Seed of the starting commands.")] = 0
    every: EveryStep = 1
    scale: AnimationScale = 4
    animate: AnimationFormat = "gif"
    duration_ms: FrameDuration = 120
    overwrite: Overwrite = False

    def check(self) -> tuple[int, int]:
        """Refuse, before an image is read, flags that cannot work together; the size the
        images are read at."""
        from fpa.viz.figure import shown_steps

        require_positive("--steps", self.steps)
        require_positive("--iterations", self.iterations)
        require_positive("--scale", self.scale)
        require_positive("--duration-ms", self.duration_ms)
        check_seed(self.seed)
        shown_steps(self.steps, self.every)
        if self.animate not in ANIMATION_FILES:
            raise ConfigError(f"--animate must be gif or apng; got {self.animate!r}")
        output_folder(self.out)
        refuse_to_replace(("--out", self.out), overwrite=self.overwrite)
        size = parse_image_size(self.image_size)
        check_decomposition_size(
            len(self.images), steps=self.steps, every=self.every, size=size, scale=self.scale
        )
        return size


def fit_images(options: DecomposeOptions, *, size: tuple[int, int]) -> Decomposition:
    """Read ``--images`` at ``size`` and fit the rule's T updates to them."""
    from fpa.data.image_file import read_image
    from fpa.decomposition import decompose

    targets = [
        read_image(image, image_size=size, channels=options.channels) for image in options.images
    ]
    if len({tuple(target.shape) for target in targets}) > 1:
        raise ConfigError("the images have different channels; choose them with --channels")
    return decompose(
        torch.stack(targets),
        rule=options.rule,
        rule_options=parse_set_options(options.rule_option or [], flag="--rule-option"),
        steps=options.steps,
        key_activation=options.key_activation,
        value_activation=options.value_activation,
        rate_activation=options.rate_activation,
        output_activation=options.output_activation,
        per_row_rate=options.per_row_rate,
        iterations=options.iterations,
        lr=options.lr,
        seed=options.seed,
    )


def decomposition_files(
    options: DecomposeOptions, result: Decomposition, *, names: list[str]
) -> dict[str, bytes]:
    """The pictures and the JSON summary ``fpa decompose`` writes, by file name."""
    from fpa.viz.pictures import trace_pictures

    pictures = trace_pictures(
        result.trace,
        to_pixels=result.to_pixels,
        compared=[result.target, result.trace.painted, result.to_pixels(result.svd())],
        column_names=["image", f"{options.rule}, T={options.steps}", f"SVD, rank {options.steps}"],
        row_names=names,
        every=options.every,
        animation=options.animate,
        duration_ms=options.duration_ms,
        scale=options.scale,
    )
    summary = {"images": list(options.images), **result.summary()}
    return {
        "painting.png": pictures.figure,
        ANIMATION_FILES[options.animate]: pictures.animation,
        "reconstruction.png": pictures.comparison,
        "decomposition.json": json_bytes(summary),
    }


@command("decompose")
@takes_options(DecomposeOptions)
def decompose_command(options: DecomposeOptions) -> None:
    """Fit keys, values and rates so that RULE's T updates paint each image, and compare with
    the truncated SVD of rank T (the best any T rank-1 updates can do, by Eckart–Young).

    Writes into --out: painting.png (updates above partial images, as fpa paint draws them),
    painting.gif (or painting-animation.png), reconstruction.png (per image: target, painting, SVD),
    decomposition.json (the errors per step) and commands.pt (the fitted commands).
    """
    from fpa.data.image_file import item_name

    size = options.check()
    images, rule, steps, out = options.images, options.rule, options.steps, options.out
    result = fit_images(options, size=size)
    names = [item_name(image) for image in images]
    files = decomposition_files(options, result, names=names)
    write_files(out, files)
    fitted = {
        "keys": result.commands.keys,
        "values": result.commands.values,
        "rates": result.commands.rates,
        **result.commands.extra,
    }
    atomic_write(out / "commands.pt", lambda file: torch.save(fitted, file))
    # Through a non-linear output activation the painting is not of rank T: the SVD compares.
    kind = "bound" if options.output_activation == "none" else "a comparison, not a bound"
    for index, image in enumerate(names):
        typer.echo(
            f"{image}: {rule}, T = {steps}: relative error {result.error[index]:.4f}, "
            f"truncated SVD of rank {steps} ({kind}): {result.svd_error[index]:.4f}"
        )
    typer.echo(
        f"wrote {out}/painting.png ({pixel_size(files['painting.png'])}), "
        f"{ANIMATION_FILES[options.animate]}, "
        "reconstruction.png, decomposition.json, commands.pt"
    )
