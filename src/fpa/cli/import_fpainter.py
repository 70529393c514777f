"""``fpa import-fpainter``: the authors' trained FPAs (IDSIA/fpainter) as fpa run directories."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fpa.cli.app import command
from fpa.cli.common import require_positive
from fpa.cli.options import takes_options

if TYPE_CHECKING:
    from fpa.importers import FpainterFlags


@dataclass(frozen=True, kw_only=True)
class ImportOptions:
    """``fpa import-fpainter``'s options, declared once."""

    checkpoint: Annotated[Path, typer.Argument(help="An IDSIA/fpainter checkpoint (model_N.pt).")]
    model_type: Annotated[
        str,
        typer.Option(
            "--model-type",
            help="Their --model_type: lstm_delta, lstm_delta_unet, lstm_delta_split_v2 or "
            "lstm_delta_split_v2_unet.",
        ),
    ]
    out: Annotated[Path, typer.Option(help="The run directory to create.")]
    image_size: Annotated[
        int | None,
        typer.Option(help="Their --image_size; read from the weights, checked when given."),
    ] = None
    paint_steps: Annotated[
        int | None,
        typer.Option(
            help="Their --num_decoding_steps; read from v2 weights, checked when given "
            "(lstm_delta: default 64)."
        ),
    ] = None
    softmax_keys: Annotated[
        bool, typer.Option("--softmax-keys/--no-softmax-keys", help="Their --use_softmax.")
    ] = True
    sigmoid_rate: Annotated[
        bool,
        typer.Option("--sigmoid-rate/--no-sigmoid-rate", help="Off for their --no_sigmoid_lr."),
    ] = True
    value_tanh: Annotated[
        bool, typer.Option("--value-tanh/--no-value-tanh", help="Their --val_tanh.")
    ] = False
    out_tanh: Annotated[
        bool, typer.Option("--out-tanh/--no-out-tanh", help="Their --out_tanh.")
    ] = True
    v2_input_tanh: Annotated[
        bool,
        typer.Option(
            "--v2-input-tanh/--no-v2-input-tanh", help="Their --v2_input_sigmoid (a tanh)."
        ),
    ] = True
    unet_tanh: Annotated[
        bool, typer.Option("--unet-tanh/--no-unet-tanh", help="Their --unet_tanh.")
    ] = True
    overwrite: Annotated[bool, typer.Option(help="Replace a run already in --out.")] = False

    def flags(self) -> FpainterFlags:
        """The flags of theirs that their checkpoints do not store, checked."""
        from fpa.importers import FpainterFlags

        if self.image_size is not None:
            require_positive("--image-size", self.image_size)
        if self.paint_steps is not None:
            require_positive("--paint-steps", self.paint_steps)
        return FpainterFlags(
            softmax_keys=self.softmax_keys,
            sigmoid_rate=self.sigmoid_rate,
            value_tanh=self.value_tanh,
            out_tanh=self.out_tanh,
            v2_input_tanh=self.v2_input_tanh,
            unet_tanh=self.unet_tanh,
        )


@command("import-fpainter")
@takes_options(ImportOptions)
def import_fpainter_command(options: ImportOptions) -> None:
    """Import a checkpoint of the authors' code; sample, paint and evaluate it with fpa.

    The flags that are not stored in their checkpoints default to their published scripts.
    """
    from fpa.importers import import_fpainter

    out = options.out
    imported = import_fpainter(
        options.checkpoint,
        model_type=options.model_type,
        out=out,
        image_size=options.image_size,
        paint_steps=options.paint_steps,
        flags=options.flags(),
        overwrite=options.overwrite,
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
