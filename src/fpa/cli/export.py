"""``fpa export``: a trained run as a model folder that is safe to share."""

from __future__ import annotations

from pathlib import Path

import typer

from fpa.cli.app import command
from fpa.errors import ConfigError
from fpa.limits import check_eval_images, check_seed


@command("export")
def export_command(
    run: Path = typer.Argument(..., help="A run directory or a checkpoint file."),
    folder: Path = typer.Argument(..., help="The model folder to write."),
    name: str = typer.Option(None, help="The model's name (default: the folder's name)."),
    paints: str = typer.Option(
        None, help="What it paints, one phrase (default: the size and the data it learnt)."
    ),
    train_command: str = typer.Option(
        None,
        "--command",
        help="How it was trained, for the card (default: fpa train --config training.toml).",
    ),
    licence: str = typer.Option(
        None,
        "--license",
        help="Licence of the weights, a Hub identifier (default: the training data's).",
    ),
    n: int = typer.Option(2000, "--n", help="Images FID/KID is measured on; 0: not measured."),
    features: str = typer.Option(None, help="Feature extractor (default: the data's)."),
    inception_weights: Path = typer.Option(
        None, help="The Inception weights file, for --features inception offline."
    ),
    seed: int = typer.Option(0, help="Seed of the measured latents."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace a model folder already there."
    ),
    device: str = typer.Option("cpu", help="cpu, cuda or auto."),
) -> None:
    """Write a run's EMA generator as a model folder: config.json, model.safetensors, a
    README.md model card with the measured FID/KID, samples.png and training.toml.

    The folder is a Hugging Face model repository as it stands:
    `hf upload USER/NAME FOLDER` publishes it unchanged.
    """
    from fpa.devices import resolve_device
    from fpa.exporting import export
    from fpa.models import read_card
    from fpa.models.layout import CARD_FILE, WEIGHTS_FILE

    if n < 0:
        raise ConfigError(f"--n must be 0 (not measured) or more; got {n}")
    if n:
        check_eval_images(n)
    check_seed(seed)
    written = export(
        run,
        folder,
        name=name,
        paints=paints,
        command=train_command,
        licence=licence,
        evaluate_n=n,
        features=features,
        inception_weights=str(inception_weights) if inception_weights else None,
        seed=seed,
        overwrite=overwrite,
        device=str(resolve_device(device)),
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
