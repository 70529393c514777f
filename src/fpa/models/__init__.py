"""Model folders: a trained generator as a folder that is safe to share, and models as a
plugin kind, so that installed packages ship painters that load by name (docs/design.md §9).

This package imports only the light parts (the card and the registration helper); the format
and the loader are :mod:`fpa.runs.model_folder` and :mod:`fpa.models.loading`.
"""

from fpa.models.card import Measurement, ModelCard, ModelCardError, read_card
from fpa.models.registration import PackagedModel, register_model_folders

__all__ = [
    "Measurement",
    "ModelCard",
    "ModelCardError",
    "PackagedModel",
    "read_card",
    "register_model_folders",
]
