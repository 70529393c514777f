"""Refiners: one pass over the painted image. ``identity`` (the default) and the ``unet``."""

from fpa.plugins import hookimpl
from fpa.refiners.identity import IdentityRefiner
from fpa.refiners.unet import UNetRefiner

__all__ = ["IdentityRefiner", "UNetRefiner"]


@hookimpl
def fpa_register_refiners(register):
    register("identity", IdentityRefiner, description="No refinement: the painted image as is")
    register(
        "unet",
        UNetRefiner,
        description="Diffusion-style U-Net, one pass over the painted image (identity at init)",
    )
