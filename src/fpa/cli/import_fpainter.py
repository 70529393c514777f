"""``fpa import-fpainter``: the authors' trained FPAs (IDSIA/fpainter) as fpa run directories."""

from __future__ import annotations

from pathlib import Path

import typer

from fpa.cli.app import command
from fpa.cli.common import require_positive


@command("import-fpainter")
def import_fpainter_command(
    checkpoint: Path = typer.Argument(..., help="An IDSIA/fpainter checkpoint (model_N.pt)."),
    model_type: str = typer.Option(
        ...,
        "--model-type",
        help="Their --model_type: lstm_delta, lstm_delta_unet, lstm_delta_split_v2 or "
        "lstm_delta_split_v2_unet.",
    ),
    out: Path = typer.Option(..., help="The run directory to create."),
    image_size: int = typer.Option(
        None, help="Their --image_size; read from the weights, checked when given."
    ),
    paint_steps: int = typer.Option(
        None,
        help="Their --num_decoding_steps; read from v2 weights, checked when given "
        "(lstm_delta: default 64).",
    ),
    softmax_keys: bool = typer.Option(
        True, "--softmax-keys/--no-softmax-keys", help="Their --use_softmax."
    ),
    sigmoid_rate: bool = typer.Option(
        True, "--sigmoid-rate/--no-sigmoid-rate", help="Off for their --no_sigmoid_lr."
    ),
    value_tanh: bool = typer.Option(
        False, "--value-tanh/--no-value-tanh", help="Their --val_tanh."
    ),
    out_tanh: bool = typer.Option(True, "--out-tanh/--no-out-tanh", help="Their --out_tanh."),
    v2_input_tanh: bool = typer.Option(
        True, "--v2-input-tanh/--no-v2-input-tanh", help="Their --v2_input_sigmoid (a tanh)."
    ),
    unet_tanh: bool = typer.Option(True, "--unet-tanh/--no-unet-tanh", help="Their --unet_tanh."),
    overwrite: bool = typer.Option(False, help="Replace a run already in --out."),
) -> None:
    """Import a checkpoint of the authors' code; sample, paint and evaluate it with fpa.

    The flags that are not stored in their checkpoints default to their published scripts.
    """
    from fpa.importers import FpainterFlags, import_fpainter

    if image_size is not None:
        require_positive("--image-size", image_size)
    if paint_steps is not None:
        require_positive("--paint-steps", paint_steps)
    flags = FpainterFlags(
        softmax_keys=softmax_keys,
        sigmoid_rate=sigmoid_rate,
        value_tanh=value_tanh,
        out_tanh=out_tanh,
        v2_input_tanh=v2_input_tanh,
        unet_tanh=unet_tanh,
    )
    imported = import_fpainter(
        checkpoint,
        model_type=model_type,
        out=out,
        image_size=image_size,
        paint_steps=paint_steps,
        flags=flags,
        overwrite=overwrite,
    )
    config = imported.config
    height, width = config.image_size
    hidden = config.painter_options["hidden_size"]
    refiner = f", refiner {config.refiner}" if config.refiner != "identity" else ""
    typer.echo(
        f"imported {imported.model_type} into {out}: {height}×{width}, {config.channels} "
        f"channels, {config.paint_steps} steps, LSTM {hidden}{refiner}"
    )
    for note in imported.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"try: fpa sample {out} --out samples.png; fpa paint {out} --out painting.png")
