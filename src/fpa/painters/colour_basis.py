"""The colour basis the channels are painted in, mapped to the output channels after painting.

Painting red, green and blue independently puts each channel's rank-1 stripes where the others
have none, which shows as coloured stripes. In a luminance–chroma basis (``ycbcr``) the strokes
that shape the picture land in luminance, and the chroma channels only tint it; ``learned``
lets training choose the mixing. The mix is a C×C matrix applied to the painted matrices before
the output activation.
"""

from __future__ import annotations

import torch
from einops import einsum
from torch import Tensor, nn

from fpa.errors import ConfigError, did_you_mean

COLOUR_BASES = ("direct", "ycbcr", "learned")

# Full-range YCbCr (ITU-T T.871, as in JPEG) to RGB, with chroma centred on 0: rows are R, G, B.
YCBCR_TO_RGB = (
    (1.0, 0.0, 1.402),
    (1.0, -0.344136, -0.714136),
    (1.0, 1.772, 0.0),
)


class ColourBasis(nn.Module):
    """Map painted channels ``(..., C, H, W)`` to output channels by a C×C matrix:
    the identity (``direct``), YCbCr to RGB (``ycbcr``, C = 3), or learned from the identity."""

    def __init__(self, *, basis: str = "direct", channels: int) -> None:
        super().__init__()
        check_colour_basis(basis, channels)
        self.basis = basis
        self.mixing: Tensor | None
        if basis == "direct":
            self.mixing = None
        elif basis == "ycbcr":
            self.register_buffer("mixing", torch.tensor(YCBCR_TO_RGB), persistent=False)
        else:
            self.mixing = nn.Parameter(torch.eye(channels))

    def forward(self, painted: Tensor) -> Tensor:
        if self.mixing is None:
            return painted
        return einsum(
            self.mixing.to(painted.dtype),
            painted,
            "out_channel channel, ... channel row col -> ... out_channel row col",
        )

    def extra_repr(self) -> str:
        return f"basis={self.basis!r}"


def check_colour_basis(basis: str, channels: int) -> None:
    """Refuse an unknown basis, and ``ycbcr`` unless the picture has 3 channels."""
    if basis not in COLOUR_BASES:
        raise ConfigError(
            f"colour_basis must be one of {', '.join(COLOUR_BASES)}; got {basis!r}"
            f"{did_you_mean(basis, COLOUR_BASES)}"
        )
    if basis == "ycbcr" and channels != 3:
        raise ConfigError(
            f"colour_basis 'ycbcr' paints 3 channels (RGB); channels is {channels}"
            " (--colour-basis direct paints any number; the cpu-emoji preset chooses ycbcr)"
        )
