"""The base class every fpa discriminator derives from, and the image-size check they share."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from fpa.discriminators.output import DiscriminatorOutput
from fpa.errors import ConfigError
from fpa.sizes import format_size, is_power_of_two


def check_power_of_two_sides(
    name: str, size: tuple[int, int], *, smallest: int, largest: int
) -> None:
    """Raise a one-line ConfigError unless both sides are powers of two in [smallest, largest]."""
    if all(is_power_of_two(side) and smallest <= side <= largest for side in size):
        return
    raise ConfigError(
        f"discriminator {name!r} needs each image side to be a power of two from {smallest} "
        f"to {largest} (e.g. {smallest}, {2 * smallest}×{4 * smallest}); got {format_size(size)}"
    )


def check_channels(channels: int) -> int:
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise ConfigError(f"channels must be a positive int; got {channels!r}")
    return channels


def resize_images(images: Tensor, size: tuple[int, int]) -> Tensor:
    """Resize by a power-of-two factor: block means when shrinking, repetition when growing.

    Block means (not nearest-neighbour picks) keep a downsized target free of aliasing; growing
    by repetition is exact for the integer factors the decoders produce. Values stay in range.
    """
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    if size[0] <= images.shape[-2] and size[1] <= images.shape[-1]:
        return F.interpolate(images, size=size, mode="area")
    return F.interpolate(images, size=size, mode="nearest")


class Discriminator(nn.Module):
    """Base class: ``forward(images, *, reconstruct=False) -> DiscriminatorOutput``.

    Subclasses set ``image_size`` (H, W) and ``channels`` and, if they reconstruct,
    ``reconstruction_size``. Inputs are images (B, C, H, W) in [-1, 1].
    """

    image_size: tuple[int, int]
    channels: int
    reconstruction_size: tuple[int, int] | None = None

    def forward(self, images: Tensor, *, reconstruct: bool = False) -> DiscriminatorOutput:
        raise NotImplementedError

    def check_input(self, images: Tensor) -> None:
        """Fail with one readable line on images of the wrong shape (a common config slip)."""
        expected = (self.channels, *self.image_size)
        if images.dim() != 4 or tuple(images.shape[1:]) != expected:
            raise ConfigError(
                f"{type(self).__name__} expects images (B, {expected[0]}, {expected[1]}, "
                f"{expected[2]}); got {tuple(images.shape)}"
            )

    def reconstruction_target(self, real_images: Tensor) -> Tensor:
        """The real images resized to the reconstruction's size, for the MSE reconstruction loss."""
        if self.reconstruction_size is None:
            raise ConfigError(f"{type(self).__name__} does not reconstruct its input")
        return resize_images(real_images, self.reconstruction_size)

    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
