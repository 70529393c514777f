"""The ``fpainter-unet`` refiner: the U-Net of the authors' FPA/U-Net models, for imported runs.

Irie & Schmidhuber's refiner (github IDSIA/fpainter, itself lucidrains' denoising-diffusion
U-Net without the time embedding) differs from fpa's own ``unet`` refiner in ways that change
its function, so imported weights need this architecture (written from scratch for fpa):

- down-sampling by a 4×4 stride-2 conv, up-sampling by a 4×4 stride-2 transposed conv;
- two ResNet blocks per level and linear attention at *every* level, the lowest included;
- their linear attention: one 1×1 conv for q, k and v, and a channel norm after its output conv;
- no residual logit path: the output is ``tanh(U-Net(x))`` (or the raw U-Net output);
- pixels in [0, 1] (lightweight-gan's convention): with ``unit_pixels`` (default) the refiner
  reads fpa's [-1, 1] images as ``(x + 1) / 2`` and returns ``2·y − 1``.

Layout for ``multipliers=(1, 2, 4)``, as theirs: stem conv 7×7 -> 3 down levels (the last one
without down-sampling) -> ResNet block, softmax attention, ResNet block -> 3 up levels with the
skips concatenated -> a ResNet block on the stem's features concatenated -> 1×1 output conv.
"""

from __future__ import annotations

import torch
from einops import einsum, rearrange
from torch import Tensor, nn

from fpa.discriminators.blocks import ChanNorm
from fpa.errors import ConfigError
from fpa.refiners.unet import (
    FullAttention,
    PreNormResidual,
    ResnetBlock,
    check_level_sides,
)
from fpa.sizes import image_hw

BLOCKS_PER_LEVEL = 2


class ImageLinearAttention(nn.Module):
    """Linear attention over all pixels: softmax over query features and key positions, then a
    1×1 conv and a channel norm (the authors' U-Net variant; 4 heads of 32)."""

    def __init__(self, *, channels: int, heads: int = 4, dim_head: int = 32) -> None:
        super().__init__()
        self.heads, self.scale = heads, dim_head**-0.5
        self.to_qkv = nn.Conv2d(channels, 3 * heads * dim_head, 1, bias=False)
        self.to_out = nn.Conv2d(heads * dim_head, channels, 1)
        self.norm = ChanNorm(channels)

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        q, k, v = (
            rearrange(t, "b (heads d) h w -> b heads d (h w)", heads=self.heads)
            for t in self.to_qkv(x).chunk(3, dim=1)
        )
        q = q.softmax(dim=-2) * self.scale
        k = k.softmax(dim=-1)
        context = einsum(k, v, "b heads d n, b heads e n -> b heads d e")
        out = einsum(context, q, "b heads d e, b heads d n -> b heads e n")
        out = rearrange(out, "b heads e (h w) -> b (heads e) h w", h=height, w=width)
        return self.norm(self.to_out(out))


class FpainterLevel(nn.Module):
    """Two ResNet blocks, pre-norm residual linear attention, then the resampling conv (if any)."""

    def __init__(
        self, *, channels_in: int, channels_out: int, groups: int, resample: nn.Module | None
    ) -> None:
        super().__init__()
        self.blocks = nn.Sequential(
            *(
                ResnetBlock(
                    channels_in=channels_in if i == 0 else channels_out,
                    channels_out=channels_out,
                    groups=groups,
                )
                for i in range(BLOCKS_PER_LEVEL)
            )
        )
        self.attention = PreNormResidual(
            channels=channels_out, fn=ImageLinearAttention(channels=channels_out)
        )
        self.resample = resample if resample is not None else nn.Identity()

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Returns (features before resampling, for the skip; resampled features)."""
        features = self.attention(self.blocks(x))
        return features, self.resample(features)


class FpainterUNetRefiner(nn.Module):
    """The authors' U-Net refiner over painted images ``(B, C, H, W)``.

    ``width`` is the first level's width; the authors use the image side (their
    ``Unet(dim=image_size)``), which is the default. ``multipliers`` are the widths per level
    relative to ``width`` (theirs: the powers of two up to ``--max_unet_dim``, i.e. (1, 2, 4)).
    ``output_tanh`` applies tanh to the U-Net's output (their ``--out_tanh``); ``unit_pixels``
    converts between fpa's [-1, 1] and the [0, 1] pixels the authors trained on.
    """

    def __init__(
        self,
        *,
        image_size: int | tuple[int, int],
        channels: int,
        width: int | None = None,
        multipliers: tuple[int, ...] = (1, 2, 4),
        groups: int = 8,
        output_tanh: bool = True,
        unit_pixels: bool = True,
    ) -> None:
        super().__init__()
        height, width_px = image_hw(image_size, what="fpainter-unet image_size")
        width = height if width is None else int(width)
        multipliers = tuple(int(m) for m in multipliers)
        self._check(height, width_px, channels, width, multipliers, groups)
        self.image_size, self.channels = (height, width_px), channels
        self.output_tanh, self.unit_pixels = output_tanh, unit_pixels

        dims = [width * m for m in multipliers]
        dims_in = [width, *dims[:-1]]
        last = len(dims) - 1
        self.stem = nn.Conv2d(channels, width, 7, padding=3)
        self.downs = nn.ModuleList(
            FpainterLevel(
                channels_in=dims_in[i],
                channels_out=dims[i],
                groups=groups,
                resample=nn.Conv2d(dims[i], dims[i], 4, stride=2, padding=1) if i < last else None,
            )
            for i in range(len(dims))
        )
        self.middle = nn.Sequential(
            ResnetBlock(channels_in=dims[-1], channels_out=dims[-1], groups=groups),
            PreNormResidual(channels=dims[-1], fn=FullAttention(channels=dims[-1])),
            ResnetBlock(channels_in=dims[-1], channels_out=dims[-1], groups=groups),
        )
        self.ups = nn.ModuleList(
            FpainterLevel(
                channels_in=2 * dims[i],
                channels_out=dims_in[i],
                groups=groups,
                resample=(
                    nn.ConvTranspose2d(dims_in[i], dims_in[i], 4, stride=2, padding=1)
                    if i > 0
                    else None
                ),
            )
            for i in reversed(range(len(dims)))
        )
        self.final = ResnetBlock(channels_in=2 * width, channels_out=width, groups=groups)
        self.out = nn.Conv2d(width, channels, 1)

    @staticmethod
    def _check(
        height: int,
        width_px: int,
        channels: int,
        width: int,
        multipliers: tuple[int, ...],
        groups: int,
    ) -> None:
        if channels < 1:
            raise ConfigError(f"fpainter-unet channels must be ≥ 1; got {channels}")
        if not multipliers or min(multipliers) < 1:
            raise ConfigError(f"fpainter-unet multipliers must be positive ints; got {multipliers}")
        if groups < 1 or width < 1 or any((width * m) % groups for m in multipliers):
            raise ConfigError(
                f"fpainter-unet widths ({width} × {multipliers}) must be positive multiples of "
                f"groups ({groups})"
            )
        check_level_sides("fpainter-unet", height, width_px, levels=len(multipliers))

    def forward(self, images: Tensor) -> Tensor:
        if images.shape[1:] != (self.channels, *self.image_size):
            raise ConfigError(
                f"fpainter-unet refiner built for images (B, {self.channels}, "
                f"{self.image_size[0]}, {self.image_size[1]}); got {tuple(images.shape)}"
            )
        x = (images + 1) / 2 if self.unit_pixels else images
        x = self.stem(x)
        stem = x
        skips = []
        for level in self.downs:
            skip, x = level(x)
            skips.append(skip)
        x = self.middle(x)
        for level in self.ups:
            _, x = level(torch.cat([x, skips.pop()], dim=1))
        out = self.out(self.final(torch.cat([x, stem], dim=1)))
        out = torch.tanh(out) if self.output_tanh else out
        return 2 * out - 1 if self.unit_pixels else out
