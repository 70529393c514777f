"""Refiners: one pass over the painted image. ``identity`` (the default), the ``unet``, and
``fpainter-unet`` (the authors' U-Net, for models imported from their checkpoints)."""

from fpa.plugins import hookimpl
from fpa.refiners.fpainter_unet import FpainterUNetRefiner
from fpa.refiners.identity import IdentityRefiner
from fpa.refiners.unet import UNetRefiner

__all__ = ["FpainterUNetRefiner", "IdentityRefiner", "UNetRefiner"]


@hookimpl
def fpa_register_refiners(register):
    register("identity", IdentityRefiner, description="No refinement: the painted image as is")
    register(
        "unet",
        UNetRefiner,
        description="Diffusion-style U-Net, one pass over the painted image (identity at init)",
    )
    register(
        "fpainter-unet",
        FpainterUNetRefiner,
        description="The authors' U-Net (IDSIA/fpainter), for imported FPA/U-Net models",
    )
