"""The pretrained painters that come with fpa: one model folder per subfolder, registered
through the ``models`` hook like a third party's (docs/design.md §9)."""

from pathlib import Path

from fpa.models.registration import register_model_folders
from fpa.plugins import hookimpl


@hookimpl
def fpa_register_models(register):
    register_model_folders(register, Path(__file__).parent)
