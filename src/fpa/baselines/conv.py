"""``conv``: a DCGAN-style convolutional generator, the conventional baseline for painters.

Not a painter: it draws the whole image at once with transposed-resolution convolutions
(Radford et al. 2016, with nearest upsampling + 3×3 convolutions instead of transposed
convolutions to avoid checkerboard artefacts). It exists so a painter can be compared with a
conventional generator under the same discriminator, loop, budget and metric.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn

from fpa.errors import ConfigError


class ConvGenerator(nn.Module):
    """``z (B, latent_dim)`` -> linear -> ``(width·2^k, H/2^k, W/2^k)`` -> k × (upsample,
    conv, batch norm, ReLU), halving the channels each time -> 3×3 conv -> tanh.

    The defaults give 0.94 M parameters at 32×32 grey (the cpu-demo painter has 0.48 M).
    """

    def __init__(
        self,
        *,
        latent_dim: int,
        image_size: tuple[int, int],
        channels: int,
        width: int = 40,
        upsamplings: int = 3,
    ) -> None:
        super().__init__()
        height, image_width = image_size
        scale = 2**upsamplings
        if upsamplings < 1 or height % scale or image_width % scale:
            raise ConfigError(
                f"the conv baseline needs image sides divisible by 2^upsamplings = {scale}; "
                f"got {height}×{image_width}"
            )
        if width < 1:
            raise ConfigError(f"width must be at least 1; got {width}")
        self.latent_dim = latent_dim
        self.start = (height // scale, image_width // scale)
        self.start_channels = width * scale
        self.project = nn.Sequential(
            nn.Linear(latent_dim, self.start_channels * self.start[0] * self.start[1]),
            nn.ReLU(inplace=True),
        )
        blocks: list[nn.Module] = []
        current = self.start_channels
        for _ in range(upsamplings):
            blocks += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(current, current // 2, 3, padding=1, bias=False),
                nn.BatchNorm2d(current // 2),
                nn.ReLU(inplace=True),
            ]
            current //= 2
        self.blocks = nn.Sequential(*blocks)
        self.to_image = nn.Conv2d(current, channels, 3, padding=1)

    def forward(self, z: Tensor) -> Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ConfigError(
                f"latents must have shape (B, {self.latent_dim}); got {tuple(z.shape)}"
            )
        grid = rearrange(
            self.project(z),
            "batch (channel row col) -> batch channel row col",
            row=self.start[0],
            col=self.start[1],
        )
        return torch.tanh(self.to_image(self.blocks(grid)))
