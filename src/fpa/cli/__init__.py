"""The ``fpa`` command line: one module per command, errors as one line with exit code 2."""

from fpa.cli import (  # noqa: F401  (each module adds its command)
    ablate,
    ceiling,
    decompose,
    evaluate,
    export,
    import_fpainter,
    interpolate,
    models,
    paint,
    plugins,
    preview,
    project,
    report,
    sample,
    train,
)
from fpa.cli.app import app

__all__ = ["app", "run"]


def run() -> None:
    """Console-script entry point (also ``python -m fpa``)."""
    app(prog_name="fpa")
