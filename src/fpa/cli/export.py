"""``fpa export``: a trained run as a model folder that is safe to share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from fpa.cli.app import command
from fpa.cli.options import takes_options
from fpa.errors import ConfigError
from fpa.limits import check_eval_images, check_seed


@dataclass(frozen=True, kw_only=True)
class ExportOptions:
    """``fpa export``'s options, declared once."""

    run: Annotated[Path, typer.Argument(help="A run directory or a checkpoint file.")]
    folder: Annotated[Path, typer.Argument(help="The model folder to write.")]
    name: Annotated[
        str | None, typer.Option(help="The model's name (default: the folder's name).")
    ] = None
    paints: Annotated[
        str | None,
        typer.Option(help="What it paints, one phrase (default: the size and the data it learnt)."),
    ] = None
    train_command: Annotated[
        str | None,
        typer.Option(
            "--command",
            help="How it was trained, for the card (default: fpa train --config training.toml).",
        ),
    ] = None
    licence: Annotated[
        str | None,
        typer.Option(
            "--license",
            help="Licence of the weights, a Hub identifier (default: the training data's).",
        ),
    ] = None
    n: Annotated[
        int, typer.Option("--n", help="Images FID/KID is measured on; 0: not measured.")
    ] = 2000
    features: Annotated[
        str | None, typer.Option(help="Feature extractor (default: the data's).")
    ] = None
    inception_weights: Annotated[
        Path | None,
        typer.Option(help="The Inception weights file, for --features inception offline."),
    ] = None
    seed: Annotated[int, typer.Option(help="Seed of the measured latents.")] = 0
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a model folder already there.")
    ] = False
    device: Annotated[str, typer.Option(help="cpu, cuda or auto.")] = "cpu"

    def check(self) -> None:
        """Refuse, before the run is read, flags that cannot work."""
        if self.n < 0:
            raise ConfigError(f"--n must be 0 (not measured) or more; got {self.n}")
        if self.n:
            check_eval_images(self.n)
        check_seed(self.seed)


@command("export")
@takes_options(ExportOptions)
def export_command(options: ExportOptions) -> None:
    """Write a run's EMA generator as a model folder: config.json, model.safetensors, a
    README.md model card with the measured FID/KID, samples.png and training.toml.

    The folder is a Hugging Face model repository as it stands:
    `hf upload USER/NAME FOLDER` publishes it unchanged.
    """
    from fpa.devices import resolve_device
    from fpa.exporting import export
    from fpa.models import read_card
    from fpa.runs.model_layout import CARD_FILE, WEIGHTS_FILE

    options.check()
    weights = options.inception_weights
    written = export(
        options.run,
        options.folder,
        name=options.name,
        paints=options.paints,
        command=options.train_command,
        licence=options.licence,
        evaluate_n=options.n,
        features=options.features,
        inception_weights=str(weights) if weights else None,
        seed=options.seed,
        overwrite=options.overwrite,
        device=str(resolve_device(options.device)),
    )
    size = (written / WEIGHTS_FILE).stat().st_size
    measured = read_card(written / CARD_FILE).measured
    scores = (
        "; not measured"
        if measured is None
        else f"; FID {measured.scores['fid']:.4g} on {measured.features} features, "
        f"{measured.n:,} images"
    )
    typer.echo(f"wrote {written} (weights {size / 1e6:.2f} MB{scores})")
