"""The ``unet`` refiner: one "denoising" pass of a diffusion-style U-Net over the painted image.

Architecture facts follow the U-Net of Irie & Schmidhuber (derived from lucidrains'
denoising-diffusion-pytorch, without the time embedding); the code is written from scratch for
fpa. Layout, for ``multipliers=(1, 2, 4)``:

    input conv -> [ResNet blocks, linear attention, down] × 2 -> ResNet blocks (lowest level)
    -> middle: ResNet block, softmax self-attention, ResNet block
    -> mirrored up path (concatenated skips, ResNet blocks, linear attention, up) -> output conv

Only the painted image goes in: the refiner sees no latent and no time step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from fpa.discriminators.blocks import ChanNorm, LinearAttention
from fpa.errors import ConfigError
from fpa.sizes import image_hw

# The residual output works in the logit domain: images (clamped to [-1, 1]) are scaled by
# (1 - EDGE) before atanh, so that ±1 maps to a finite logit (atanh(0.999) ≈ 3.8). At
# initialisation this is the only change: |refine(x) - x| ≤ EDGE·|x|, below one 8-bit level.
EDGE = 1e-3


class ResnetBlock(nn.Module):
    """Two (3×3 conv, GroupNorm, SiLU) layers plus a skip: a 1×1 conv when the widths differ."""

    def __init__(self, *, channels_in: int, channels_out: int, groups: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels_in, channels_out, 3, padding=1),
            nn.GroupNorm(groups, channels_out),
            nn.SiLU(),
            nn.Conv2d(channels_out, channels_out, 3, padding=1),
            nn.GroupNorm(groups, channels_out),
            nn.SiLU(),
        )
        self.skip = (
            nn.Conv2d(channels_in, channels_out, 1)
            if channels_in != channels_out
            else nn.Identity()
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) + self.skip(x)


class FullAttention(nn.Module):
    """Multi-head softmax self-attention over all pixels; quadratic, so used at the lowest level."""

    def __init__(self, *, channels: int, heads: int = 4, dim_head: int = 32) -> None:
        super().__init__()
        self.heads = heads
        self.to_qkv = nn.Conv2d(channels, 3 * heads * dim_head, 1, bias=False)
        self.to_out = nn.Conv2d(heads * dim_head, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        q, k, v = (
            rearrange(t, "b (heads d) h w -> b heads (h w) d", heads=self.heads)
            for t in self.to_qkv(x).chunk(3, dim=1)
        )
        out = F.scaled_dot_product_attention(q, k, v)
        out = rearrange(out, "b heads (h w) d -> b (heads d) h w", h=height, w=width)
        return self.to_out(out)


class PreNormResidual(nn.Module):
    """``x + fn(chan_norm(x))``: how every attention layer of the U-Net is wrapped."""

    def __init__(self, *, channels: int, fn: nn.Module) -> None:
        super().__init__()
        self.norm = ChanNorm(channels)
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return x + self.fn(self.norm(x))


class Downsample(nn.Module):
    """Halve H and W losslessly (2×2 space-to-depth), then mix with a 1×1 conv."""

    def __init__(self, *, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4 * channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(rearrange(x, "b c (h p1) (w p2) -> b (c p1 p2) h w", p1=2, p2=2))


class Upsample(nn.Module):
    """Double H and W: nearest neighbour then a 3×3 conv (no transposed-conv checkerboard)."""

    def __init__(self, *, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Level(nn.Module):
    """One resolution of either path: ResNet blocks, optional linear attention and resampling."""

    def __init__(
        self,
        *,
        channels_in: int,
        channels_out: int,
        blocks: int,
        groups: int,
        attention: bool,
        resample: type[Downsample] | type[Upsample] | None,
    ) -> None:
        super().__init__()
        self.blocks = nn.Sequential(
            *(
                ResnetBlock(
                    channels_in=channels_in if i == 0 else channels_out,
                    channels_out=channels_out,
                    groups=groups,
                )
                for i in range(blocks)
            )
        )
        self.attention = (
            PreNormResidual(
                channels=channels_out,
                fn=LinearAttention(channels_out, heads=4, dim_head=32),
            )
            if attention
            else nn.Identity()
        )
        self.resample = resample(channels=channels_out) if resample else nn.Identity()

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Returns (features before resampling, for the skip; resampled features)."""
        features = self.attention(self.blocks(x))
        return features, self.resample(features)


class UNetRefiner(nn.Module):
    """A U-Net that makes one refining pass over painted images ``(B, C, H, W)`` in [-1, 1].

    ``width`` × ``multipliers`` are the feature widths per level; each level below the first
    halves H and W, so both sides must divide by ``2 ** (len(multipliers) - 1)``.

    Output, with ``residual=True`` (default): ``tanh(atanh((1 - 1e-3)·x) + delta)``, the U-Net's
    ``delta`` added in the logit domain, with a zero-initialised output conv. Chosen because an
    untrained refiner is then the identity up to 1e-3 — two-stage training on a frozen painter
    starts from the painter's own images rather than from grey — while the output stays in
    (-1, 1) and differentiable everywhere (a clamp would not be). The cost: near-saturated pixels
    move only for a large ``delta``. ``residual=False`` is the authors' form, ``tanh(delta)``,
    with the output conv at its default initialisation.
    """

    def __init__(
        self,
        *,
        image_size: int | tuple[int, int],
        channels: int,
        width: int = 32,
        multipliers: tuple[int, ...] = (1, 2, 4),
        blocks_per_level: int = 1,
        groups: int = 8,
        linear_attention: bool = True,
        full_attention: bool = True,
        residual: bool = True,
    ) -> None:
        super().__init__()
        height, width_px = image_hw(image_size, what="unet image_size")
        multipliers = tuple(int(m) for m in multipliers)
        self._check(height, width_px, channels, width, multipliers, blocks_per_level, groups)
        self.image_size, self.channels, self.residual = (height, width_px), channels, residual

        dims = [width * m for m in multipliers]
        dims_in = [width, *dims[:-1]]
        last = len(dims) - 1
        self.stem = nn.Conv2d(channels, width, 7, padding=3)
        self.downs = nn.ModuleList(
            Level(
                channels_in=dims_in[i],
                channels_out=dims[i],
                blocks=blocks_per_level,
                groups=groups,
                attention=linear_attention and i < last,
                resample=Downsample if i < last else None,
            )
            for i in range(len(dims))
        )
        self.middle = nn.Sequential(
            ResnetBlock(channels_in=dims[-1], channels_out=dims[-1], groups=groups),
            PreNormResidual(channels=dims[-1], fn=FullAttention(channels=dims[-1]))
            if full_attention
            else nn.Identity(),
            ResnetBlock(channels_in=dims[-1], channels_out=dims[-1], groups=groups),
        )
        # Up level i takes its down twin's skip concatenated, and ends at that twin's input width,
        # which is exactly the width of the skip the next (higher) level concatenates.
        self.ups = nn.ModuleList(
            Level(
                channels_in=2 * dims[i],
                channels_out=dims_in[i],
                blocks=blocks_per_level,
                groups=groups,
                attention=linear_attention and i < last,
                resample=Upsample if i > 0 else None,
            )
            for i in reversed(range(len(dims)))
        )
        self.final = ResnetBlock(channels_in=2 * width, channels_out=width, groups=groups)
        self.out = nn.Conv2d(width, channels, 1)
        if residual:
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)  # type: ignore[arg-type]  # Conv2d has a bias here

    @staticmethod
    def _check(
        height: int,
        width_px: int,
        channels: int,
        width: int,
        multipliers: tuple[int, ...],
        blocks_per_level: int,
        groups: int,
    ) -> None:
        if channels < 1:
            raise ConfigError(f"unet channels must be ≥ 1; got {channels}")
        if not multipliers or min(multipliers) < 1:
            raise ConfigError(f"unet multipliers must be positive ints; got {multipliers}")
        if blocks_per_level < 1:
            raise ConfigError(f"unet blocks_per_level must be ≥ 1; got {blocks_per_level}")
        if groups < 1 or width < 1 or width % groups:
            raise ConfigError(
                f"unet width ({width}) must be a positive multiple of groups ({groups})"
            )
        check_level_sides("unet", height, width_px, levels=len(multipliers))

    def forward(self, images: Tensor) -> Tensor:
        if images.shape[1:] != (self.channels, *self.image_size):
            raise ConfigError(
                f"unet refiner built for images (B, {self.channels}, {self.image_size[0]}, "
                f"{self.image_size[1]}); got {tuple(images.shape)}"
            )
        x = self.stem(images)
        stem = x
        skips = []
        for level in self.downs:
            skip, x = level(x)
            skips.append(skip)
        x = self.middle(x)
        for level in self.ups:
            _, x = level(torch.cat([x, skips.pop()], dim=1))
        delta = self.out(self.final(torch.cat([x, stem], dim=1)))
        if not self.residual:
            return torch.tanh(delta)
        # In float32 even under bf16 autocast, where (1 - EDGE) would round to 1 and atanh to inf.
        logits = torch.atanh(images.float().clamp(-1, 1) * (1 - EDGE))
        return torch.tanh(logits + delta.float()).to(images.dtype)


def check_level_sides(kind: str, height: int, width: int, *, levels: int) -> None:
    """A U-Net of ``levels`` resolutions halves the sides ``levels - 1`` times."""
    factor = 2 ** (levels - 1)
    if height < 1 or width < 1 or height % factor or width % factor:
        raise ConfigError(
            f"{kind} image sides must be positive multiples of {factor} for {levels} levels; "
            f"got {height}×{width} (use fewer multipliers or another size)"
        )
