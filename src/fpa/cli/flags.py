"""The flags several commands share, each declared once: use one as a field's type in a
command's options dataclass (``device: DeviceName = "auto"``)."""

from __future__ import annotations

from typing import Annotated

import typer

from fpa.cli.common import OVERWRITE_HELP

DeviceName = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
UseEma = Annotated[bool, typer.Option("--ema/--no-ema", help="EMA weights (default) or raw G.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help=OVERWRITE_HELP)]
EveryStep = Annotated[
    int, typer.Option(help="Figure: show every K-th step (the last step always).")
]
AnimationScale = Annotated[
    int,
    typer.Option(
        help="Enlarge every pixel to scale×scale blocks (the animation to 256 px wide at least)."
    ),
]
AnimationFormat = Annotated[str, typer.Option(help="Animation format: gif or apng.")]
FrameDuration = Annotated[int, typer.Option(help="Animation: milliseconds per step.")]
Truncation = Annotated[
    float, typer.Option(help="Pull the latents towards their mean by this factor ψ (1: unchanged).")
]
ClassName = Annotated[
    str | None,
    typer.Option("--class", help="A conditional run's class to paint: its name or index."),
]
