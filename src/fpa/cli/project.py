"""``fpa project``: find the latent (and optionally the commands) a painter paints an image from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import torch
import typer

from fpa.cli.app import command
from fpa.cli.common import (
    SOURCE_HELP,
    json_bytes,
    output_folder,
    pixel_size,
    refuse_to_replace,
    require_painter,
    require_positive,
    write_files,
)
from fpa.cli.decompose import ANIMATION_FILES, IMAGE_HELP
from fpa.cli.flags import (
    AnimationFormat,
    AnimationScale,
    DeviceName,
    EveryStep,
    FrameDuration,
    Overwrite,
    UseEma,
)
from fpa.cli.options import takes_options
from fpa.devices import resolve_device
from fpa.errors import ConfigError
from fpa.latent_files import write_latents
from fpa.limits import check_seed

if TYPE_CHECKING:
    from fpa.generator import FastWeightPainter
    from fpa.projection import Projection


@dataclass(frozen=True, kw_only=True)
class ProjectOptions:
    """``fpa project``'s options, declared once."""

    images: Annotated[list[str], typer.Argument(help=IMAGE_HELP)]
    run: Annotated[Path, typer.Option(help=SOURCE_HELP)]
    out: Annotated[Path, typer.Option(help="Folder for what is written.")] = Path("projection")
    steps: Annotated[int, typer.Option(help="Adam steps on the latent.")] = 300
    lr: Annotated[
        float, typer.Option(help="Adam's learning rate on the latent (cosine decay).")
    ] = 0.05
    candidates: Annotated[
        int, typer.Option(help="Seeded latents the search starts from the best of.")
    ] = 256
    feature_weight: Annotated[
        float,
        typer.Option(help="Weight of the feature loss against the pixel loss (0: pixels only)."),
    ] = 1.0
    features: Annotated[
        str | None,
        typer.Option(
            help="Feature extractor (default: the run's data's: digits for mnist, emoji)."
        ),
    ] = None
    refine_steps: Annotated[
        int,
        typer.Option(
            help="Adam steps refining the painter's commands after the latent, through each "
            "step's controller features (0: none)."
        ),
    ] = 0
    refine_lr: Annotated[float, typer.Option(help="Adam's learning rate of the refinement.")] = 0.01
    seed: Annotated[int, typer.Option(help="Seed of the candidate latents.")] = 0
    every: EveryStep = 1
    scale: AnimationScale = 4
    animate: AnimationFormat = "gif"
    duration_ms: FrameDuration = 120
    device: DeviceName = "auto"
    ema: UseEma = True
    overwrite: Overwrite = False

    def check(self) -> None:
        """Refuse, before the painter is loaded, flags that cannot work together."""
        require_positive("--scale", self.scale)
        require_positive("--duration-ms", self.duration_ms)
        check_seed(self.seed)
        if self.animate not in ANIMATION_FILES:
            raise ConfigError(f"--animate must be gif or apng; got {self.animate!r}")
        output_folder(self.out)
        refuse_to_replace(("--out", self.out), overwrite=self.overwrite)


@command("project")
@takes_options(ProjectOptions)
def project_command(options: ProjectOptions) -> None:
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
    from fpa.viz.figure import shown_steps

    options.check()
    loaded = open_model(options.run, ema=options.ema, device=resolve_device(options.device))
    painter = require_painter(loaded.generator, what="fpa project")
    shown_steps(painter.paint_steps, options.every)
    size, channels = painter.config.image_size, painter.config.channels
    targets = [read_image(item, image_size=size, channels=channels) for item in options.images]
    result = project_images(
        painter,
        torch.stack(targets),
        features=options.features,
        data=loaded.data,
        steps=options.steps,
        lr=options.lr,
        candidates=options.candidates,
        feature_weight=options.feature_weight,
        refine_steps=options.refine_steps,
        refine_lr=options.refine_lr,
        seed=options.seed,
    )
    names = [item_name(image) for image in options.images]
    files = projection_files(options, painter, result, names=names)
    write_files(options.out, files)
    out = options.out
    write_latents(out / "latents.pt", result.latents)
    for index, image in enumerate(names):
        distance = result.feature_distance
        far = "" if distance is None else f", feature distance {distance[index]:.3f}"
        typer.echo(f"{image}: PSNR {result.psnr[index]:.2f} dB{far}")
    typer.echo(
        f"wrote {out}/reconstruction.png ({pixel_size(files['reconstruction.png'])}), "
        "painting.png, "
        f"{ANIMATION_FILES[options.animate]}, projection.json, latents.pt"
    )


def projection_files(
    options: ProjectOptions, painter: FastWeightPainter, result: Projection, *, names: list[str]
) -> dict[str, bytes]:
    """What ``fpa project`` writes into --out, by file name (latents.pt aside)."""
    from fpa.viz.pictures import projection_pictures

    pictures = projection_pictures(
        painter,
        result.trace,
        targets=result.target,
        projected=result.images,
        names=names,
        every=options.every,
        animation=options.animate,
        duration_ms=options.duration_ms,
        scale=options.scale,
    )
    summary = {"images": list(options.images), "run": str(options.run), **result.summary()}
    return {
        "reconstruction.png": pictures.comparison,
        "painting.png": pictures.figure,
        ANIMATION_FILES[options.animate]: pictures.animation,
        "projection.json": json_bytes(summary),
    }
