"""A small, fast discriminator for CPU runs and tests."""

from __future__ import annotations

import torch
from einops import rearrange, reduce, repeat
from torch import Tensor, nn

from fpa.discriminators.base import (
    Discriminator,
    check_channels,
    check_power_of_two_sides,
)
from fpa.discriminators.blocks import apply_spectral_norm
from fpa.discriminators.output import DiscriminatorOutput
from fpa.errors import ConfigError
from fpa.sizes import image_hw

FINAL_SIDE = 4  # strided convs stop when the shorter side is 4


class MinibatchStd(nn.Module):
    """Append one channel: the feature spread across a group of samples (StyleGAN's trick).

    It lets the discriminator see a lack of variety (mode collapse) in a batch, at the price of
    making each sample's logit depend on the other samples of its group. The group is the largest
    divisor of the batch size not above ``group_size``; group members are ``m`` apart.
    """

    def __init__(self, *, group_size: int = 4, eps: float = 1e-8) -> None:
        super().__init__()
        self.group_size = group_size
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        batch = x.shape[0]
        group = max(g for g in range(1, min(self.group_size, batch) + 1) if batch % g == 0)
        grouped = rearrange(x, "(g m) c h w -> g m c h w", g=group)
        # The variance written out: ``Tensor.var`` over this outer axis took a slow path on the
        # CPU (about 3x slower forward + R1 double backward at 32x32, benchmarks/train.py).
        centred = grouped - reduce(grouped, "g m c h w -> 1 m c h w", "mean")
        variance = reduce(centred.square(), "g m c h w -> m c h w", "mean")
        spread = torch.sqrt(variance + self.eps)
        per_group = reduce(spread, "m c h w -> m", "mean")
        feature = repeat(per_group, "m -> (g m) 1 h w", g=group, h=x.shape[2], w=x.shape[3])
        return torch.cat((x, feature), dim=1)


class SmallDiscriminator(Discriminator):
    """A small fast discriminator for CPU runs: strided spectral-norm convs and a linear logit.

    4×4 stride-2 convs (leaky ReLU 0.2) halve the image until its shorter side is 4 (three convs
    at 32×32, widths 64, 128, 256), a minibatch standard-deviation channel (on by default: on
    the CPU demo it kept a fast weight painter from collapsing onto one shape early), then one
    linear layer to the logit. No auxiliary head and no reconstruction. Each side must be a
    power of two from 8 to 512.
    """

    def __init__(
        self,
        *,
        image_size: int | tuple[int, int],
        channels: int,
        width: int = 64,
        max_width: int = 256,
        spectral_norm: bool = True,
        minibatch_std: bool = True,
        minibatch_std_group: int = 4,
    ) -> None:
        super().__init__()
        self.image_size = image_hw(image_size)
        self.channels = check_channels(channels)
        check_power_of_two_sides("small", self.image_size, smallest=8, largest=512)
        if width < 1 or max_width < 1 or minibatch_std_group < 1:
            raise ConfigError(
                "small width, max_width and minibatch_std_group must be ≥ 1; got "
                f"{width}, {max_width}, {minibatch_std_group}"
            )
        num_convs = (min(self.image_size) // FINAL_SIDE).bit_length() - 1
        layers: list[nn.Module] = []
        channels_in = channels
        for i in range(num_convs):
            channels_out = min(width * 2**i, max_width)
            layers += [nn.Conv2d(channels_in, channels_out, 4, stride=2, padding=1)]
            layers += [nn.LeakyReLU(0.2)]
            channels_in = channels_out
        self.convs = nn.Sequential(*layers)
        self.minibatch_std = MinibatchStd(group_size=minibatch_std_group) if minibatch_std else None
        scale = 2**num_convs
        pixels = (self.image_size[0] // scale) * (self.image_size[1] // scale)
        # The width of the features the logit reads, which a class projection head needs.
        self.feature_size = (channels_in + int(minibatch_std)) * pixels
        self.to_logit = nn.Linear(self.feature_size, 1)
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, images: Tensor, *, reconstruct: bool = False) -> DiscriminatorOutput:
        """Logits (B,) and the features they read; ``reconstruct`` is accepted for the common
        contract and ignored."""
        self.check_input(images)
        features = self.convs(images)
        if self.minibatch_std is not None:
            features = self.minibatch_std(features)
        flat = rearrange(features, "b c h w -> b (c h w)")
        logits = self.to_logit(flat)
        return DiscriminatorOutput(rearrange(logits, "b 1 -> b"), features=flat)
