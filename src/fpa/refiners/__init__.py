"""Refiners: one pass over the painted image. ``identity`` for now; the U-Net comes later."""

from fpa.plugins import hookimpl
from fpa.refiners.identity import IdentityRefiner

__all__ = ["IdentityRefiner"]


@hookimpl
def fpa_register_refiners(register):
    register("identity", IdentityRefiner, description="No refinement: the painted image as is")
