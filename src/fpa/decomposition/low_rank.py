"""Images rebuilt from T rank-1 strokes laid out as a painter's head lays them out.

A T-step painter writes each channel as a sum of T rank-1 matrices (docs/design.md §3). How
the channels share those strokes is the head's ``strokes`` choice, and it decides the best
picture any T-step painter of that layout can paint:

- ``per-channel``: every channel its own T strokes: the truncated SVD of each channel
  (Eckart–Young: the best possible in the Frobenius norm);
- ``shared-key``: one key per step for all channels, each channel its own value: the channels
  stacked along the rows, ``(C·H, W)``, share their right singular vectors, so the truncated
  SVD of the stack is the best;
- ``coloured``: one key and one value per step and a colour per channel,
  ``M_c = Σ_t colour_tc · v_t k_tᵀ``: a rank-T CP (PARAFAC) decomposition of the ``(H, W, C)``
  tensor. It has no closed form; alternating least squares, started from the shared-key SVD,
  finds one that a painter could paint (a reachable picture, so an upper bound on the error
  of the best one).

The strokes are fitted in the colour basis the painter paints in (``mixing``: painted
channels to output channels, e.g. YCbCr to RGB), since that is where its strokes live.
"""

from __future__ import annotations

import torch
from einops import einsum, rearrange
from torch import Tensor

from fpa.decomposition.svd import svd_truncation
from fpa.errors import ConfigError, did_you_mean

LAYOUTS = ("per-channel", "shared-key", "coloured")
ALS_ITERATIONS = 40
RIDGE = 1e-9  # keeps the normal equations solvable when a stroke dies out


def low_rank_images(
    images: Tensor, *, rank: int, strokes: str = "per-channel", mixing: Tensor | None = None
) -> Tensor:
    """``images (N, C, H, W)`` rebuilt from ``rank`` strokes per image in the ``strokes``
    layout, painted in the basis ``mixing (C, C)`` maps to the output (None: the identity)."""
    if strokes not in LAYOUTS:
        raise ConfigError(
            f"strokes must be one of {', '.join(LAYOUTS)}; got {strokes!r}"
            f"{did_you_mean(strokes, LAYOUTS)}"
        )
    if rank < 1:
        raise ConfigError(f"the number of strokes must be at least 1; got {rank}")
    target = images.double()
    if mixing is not None:
        unmix = torch.linalg.inv(mixing.double())
        target = einsum(unmix, target, "channel out, n out row col -> n channel row col")
    if strokes == "per-channel":
        painted = svd_truncation(target, rank)
    elif strokes == "shared-key":
        painted = shared_key_truncation(target, rank)
    else:
        painted = coloured_strokes(target, rank)
    if mixing is not None:
        painted = einsum(
            mixing.double(), painted, "out channel, n channel row col -> n out row col"
        )
    return painted.to(images.dtype)


def shared_key_truncation(images: Tensor, rank: int) -> Tensor:
    """The best sum of ``rank`` strokes whose keys all channels share: the truncated SVD of
    the channels stacked along the rows."""
    channels = images.shape[1]
    stacked = rearrange(images, "n channel row col -> n (channel row) col")
    approximation = svd_truncation(stacked, rank)
    return rearrange(approximation, "n (channel row) col -> n channel row col", channel=channels)


def coloured_strokes(images: Tensor, rank: int, *, iterations: int = ALS_ITERATIONS) -> Tensor:
    """``rank`` coloured strokes per image ``(N, C, H, W)``, fitted by alternating least
    squares: each of values, keys and colours in turn solves its normal equations exactly
    while the other two stay fixed, so the error never grows."""
    values, keys, colours = shared_key_start(images, rank)
    for _ in range(iterations):
        values = solve_factor(
            einsum(images, keys, colours, "n c row col, n col t, n c t -> n row t"),
            gram(keys) * gram(colours),
        )
        keys = solve_factor(
            einsum(images, values, colours, "n c row col, n row t, n c t -> n col t"),
            gram(values) * gram(colours),
        )
        colours = solve_factor(
            einsum(images, values, keys, "n c row col, n row t, n col t -> n c t"),
            gram(values) * gram(keys),
        )
    return einsum(values, keys, colours, "n row t, n col t, n c t -> n c row col")


def shared_key_start(images: Tensor, rank: int) -> tuple[Tensor, Tensor, Tensor]:
    """Starting values ``(N, H, T)``, keys ``(N, W, T)`` and colours ``(N, C, T)``: the keys of
    the shared-key SVD, each stroke's value and colour the leading singular pair of its
    ``(H, C)`` value block."""
    n, channels, height, width = images.shape
    stacked = rearrange(images, "n channel row col -> n (channel row) col")
    left, singular, right = torch.linalg.svd(stacked, full_matrices=False)
    kept = min(rank, singular.shape[-1])
    keys = rearrange(right[:, :kept], "n t col -> n col t")
    blocks = rearrange(
        left[..., :kept] * singular[:, None, :kept],
        "n (channel row) t -> n t row channel",
        channel=channels,
    )
    block_left, block_singular, block_right = torch.linalg.svd(blocks, full_matrices=False)
    values = rearrange(block_left[..., 0] * block_singular[..., :1], "n t row -> n row t")
    colours = rearrange(block_right[..., 0, :], "n t channel -> n channel t")
    if kept < rank:  # fewer singular vectors than strokes: the spare strokes start at zero
        pad = rank - kept
        values = torch.cat([values, values.new_zeros(n, height, pad)], dim=-1)
        keys = torch.cat([keys, keys.new_zeros(n, width, pad)], dim=-1)
        colours = torch.cat([colours, colours.new_zeros(n, channels, pad)], dim=-1)
    return values, keys, colours


def gram(factor: Tensor) -> Tensor:
    """``factorᵀ factor`` per image: ``(N, D, T) -> (N, T, T)``."""
    return einsum(factor, factor, "n d t, n d u -> n t u")


def solve_factor(right_side: Tensor, system: Tensor) -> Tensor:
    """Solve ``factor · system = right_side`` for ``factor (N, D, T)`` (``system`` symmetric
    positive semi-definite ``(N, T, T)``, made definite by a small ridge)."""
    ridge = RIDGE * system.diagonal(dim1=-2, dim2=-1).mean(-1).clamp_min(1e-30)
    eye = torch.eye(system.shape[-1], dtype=system.dtype, device=system.device)
    regular = system + ridge[:, None, None] * eye
    return torch.linalg.solve(regular, right_side.transpose(-1, -2)).transpose(-1, -2)
