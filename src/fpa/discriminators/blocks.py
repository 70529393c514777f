"""Layers the discriminators share: blur, channel norm, linear attention, residual down-sampling.

Architecture facts follow lightweight-gan (Liu et al. 2021, as implemented by lucidrains and used
by Irie & Schmidhuber); the code is written from scratch for fpa.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

LEAKY_SLOPE = 0.1


def leaky_relu() -> nn.LeakyReLU:
    return nn.LeakyReLU(LEAKY_SLOPE)


class Blur(nn.Module):
    """A fixed [1, 2, 1] ⊗ [1, 2, 1] / 16 low-pass filter per channel (reflect padding).

    Applied before every stride-2 step so that down-sampling does not alias.
    """

    kernel: Tensor

    def __init__(self) -> None:
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer("kernel", torch.outer(taps, taps) / 16, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        channels = x.shape[1]
        kernel = self.kernel.to(x.dtype).expand(channels, 1, 3, 3)
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), kernel, groups=channels)


class ChanNorm(nn.Module):
    """Normalise over channels at every pixel with a learned gain and bias; no batch statistics."""

    def __init__(self, channels: int, *, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.gain = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        var, mean = torch.var_mean(x, dim=1, unbiased=False, keepdim=True)
        return (x - mean) * torch.rsqrt(var + self.eps) * self.gain + self.bias


class LinearAttention(nn.Module):
    """Global linear attention over all pixels (softmax on query features, on key positions).

    Cost is linear in the number of pixels. Keys and values come from a depthwise 3×3 conv
    followed by a 1×1 conv, as in lightweight-gan; its extra local 3×3 "full attention" branch is
    left out here.
    """

    def __init__(self, channels: int, *, heads: int = 8, dim_head: int = 64) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.scale = dim_head**-0.5
        self.to_q = nn.Conv2d(channels, inner, 1, bias=False)
        self.to_kv = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
            nn.Conv2d(channels, 2 * inner, 1, bias=False),
        )
        self.to_out = nn.Conv2d(inner, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        q = self.to_q(x)
        k, v = self.to_kv(x).chunk(2, dim=1)
        # Features before positions: these reshapes are views, no copies of the large maps.
        q, k, v = (
            rearrange(t, "b (heads d) h w -> b heads d (h w)", heads=self.heads) for t in (q, k, v)
        )
        q = q.softmax(dim=-2) * self.scale
        k = k.softmax(dim=-1)
        context = torch.einsum("b g d n, b g e n -> b g d e", k, v)
        out = torch.einsum("b g d n, b g d e -> b g e n", q, context)
        out = rearrange(out, "b heads e (h w) -> b (heads e) h w", h=height, w=width)
        return self.to_out(F.gelu(out))


class ResidualAttention(nn.Module):
    """``x + attention(chan_norm(x))``: a pre-norm residual attention layer."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = ChanNorm(channels)
        self.attention = LinearAttention(channels)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.attention(self.norm(x))


class DownBlock(nn.Module):
    """Residual down-sampling block: halves height and width.

    Main path: blur, 4×4 stride-2 conv, leaky ReLU, 3×3 conv, leaky ReLU. Skip path: blur, 2×2
    average pool, 1×1 conv, leaky ReLU. The two are summed.
    """

    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()
        self.main = nn.Sequential(
            Blur(),
            nn.Conv2d(channels_in, channels_out, 4, stride=2, padding=1),
            leaky_relu(),
            nn.Conv2d(channels_out, channels_out, 3, padding=1),
            leaky_relu(),
        )
        self.skip = nn.Sequential(
            Blur(), nn.AvgPool2d(2), nn.Conv2d(channels_in, channels_out, 1), leaky_relu()
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.main(x) + self.skip(x)


class UpBlock(nn.Module):
    """Decoder step: nearest-neighbour ×2 up-sampling, 3×3 conv to twice the output, GLU."""

    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels_in, 2 * channels_out, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return F.glu(self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest")), dim=1)


def kaiming_init(module: nn.Module) -> None:
    """He-normal weights (fan-in, leaky ReLU) on every conv and linear layer, as lightweight-gan."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d | nn.Linear):
            nn.init.kaiming_normal_(layer.weight, a=0, mode="fan_in", nonlinearity="leaky_relu")


def apply_spectral_norm(module: nn.Module) -> None:
    """Put spectral normalisation on the weight of every conv and linear layer in ``module``."""
    layers = [layer for layer in module.modules() if isinstance(layer, nn.Conv2d | nn.Linear)]
    for layer in layers:
        spectral_norm(layer)
