"""The feature-extractor contract, the shared input conversion, and the default lookup."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from fpa.errors import ConfigError
from fpa.plugins import build, registry

# ITU-R BT.601 luma, the weights fpa's datasets use for RGB -> grey (fpa.data.pixels).
LUMA = (0.299, 0.587, 0.114)
FALLBACK = "inception"


class FeatureExtractor(nn.Module):
    """Maps images ``(B, C, H, W)`` in [-1, 1] to features ``(B, feature_dim)``.

    Subclasses set ``input_channels`` (what the network sees: 1 or 3), ``input_size``
    (``None``: any), ``feature_dim``, and ``default_for`` (datasets it is the default for);
    they implement :meth:`embed` on converted inputs and :meth:`fingerprint`, which names
    the extractor and its weights so cached statistics are never reused across them.
    """

    input_channels: ClassVar[int] = 3
    input_size: ClassVar[tuple[int, int] | None] = None
    default_for: ClassVar[tuple[str, ...]] = ()
    feature_dim: int

    def fingerprint(self) -> str:
        raise NotImplementedError

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def convert(self, images: torch.Tensor) -> torch.Tensor:
        """The one input path for real and generated images alike: channels, then size."""
        images = to_channels(images.float(), self.input_channels)
        if self.input_size is not None and tuple(images.shape[-2:]) != self.input_size:
            images = F.interpolate(
                images, size=self.input_size, mode="bilinear", antialias=True, align_corners=False
            )
        return images.clamp(-1, 1)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] not in (1, 3, 4):
            raise ConfigError(f"features take (B, 1|3|4, H, W) images; got {tuple(images.shape)}")
        return self.embed(self.convert(images)).double()


def to_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Grey <-> RGB by fpa's data conventions; RGBA drops alpha (its RGB is already on white)."""
    images = images[:, :3]
    if images.shape[1] == channels:
        return images
    if channels == 1:
        luma = images.new_tensor(LUMA)
        return torch.einsum("bchw,c->bhw", images, luma).unsqueeze(1)
    return images.expand(-1, channels, -1, -1)


def default_features(data: str) -> str:
    """The extractor registered as the default for ``data``; ``inception`` for anything else."""
    for name, component in sorted(registry().components["features"].items()):
        if data in getattr(component.factory, "default_for", ()):
            return name
    return FALLBACK


def check_extractor(extractor: object, name: str) -> FeatureExtractor:
    if not isinstance(extractor, FeatureExtractor):
        raise ConfigError(f"features {name!r} did not build a fpa.features.FeatureExtractor")
    return extractor


def build_features(name: str, **options: Any) -> FeatureExtractor:
    """Build a feature extractor (for FID/KID) by name, e.g. ``build_features("digits")``,
    checked to be one. It lives beside :class:`FeatureExtractor`, not in :mod:`fpa.plugins`,
    so that the registry below needs nothing from above it."""
    return check_extractor(build("features", name, **options), name)
