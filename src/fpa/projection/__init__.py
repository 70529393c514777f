"""Projection of real images into a painter (``fpa project``): the latent, and optionally the
commands, whose painting matches each image (docs/conditioning.md)."""

from fpa.projection.api import project_images
from fpa.projection.fit import Projection, ProjectionConfig, project, psnr

__all__ = ["Projection", "ProjectionConfig", "project", "project_images", "psnr"]
