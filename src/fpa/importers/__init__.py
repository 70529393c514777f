"""Importers: trained models from other code bases as fpa generators and run directories.

``fpainter``: the authors' checkpoints (github IDSIA/fpainter), see :func:`import_fpainter`.
"""

from fpa.importers.fpainter import (
    MODEL_TYPES,
    SUPPORTED_TYPES,
    FpainterFlags,
    FpainterImport,
    FpainterImportError,
    import_fpainter,
    load_fpainter,
)

__all__ = [
    "MODEL_TYPES",
    "SUPPORTED_TYPES",
    "FpainterFlags",
    "FpainterImport",
    "FpainterImportError",
    "import_fpainter",
    "load_fpainter",
]
