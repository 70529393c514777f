"""The truncated SVD: by the Eckart–Young theorem, the best any sum of T rank-1 matrices does.

A learning rule's T updates from ``M_0 = 0`` sum to a matrix of rank at most T (docs/design.md
§3), so for each channel no rule, whatever its keys, values and rates, gets closer to an image
in the Frobenius norm than its truncated SVD of rank T. That makes it the yardstick of a
decomposition (docs/conditioning.md).
"""

from __future__ import annotations

import torch
from einops import einsum
from torch import Tensor

from fpa.errors import ConfigError


def svd_truncation(images: Tensor, rank: int) -> Tensor:
    """The best rank-``rank`` approximation of every matrix ``(..., H, W)`` (per channel)."""
    if rank < 1:
        raise ConfigError(f"the rank of a truncated SVD must be at least 1; got {rank}")
    left, singular, right = torch.linalg.svd(images.double(), full_matrices=False)
    kept = min(rank, singular.shape[-1])
    approximation = einsum(
        left[..., :kept] * singular[..., None, :kept],
        right[..., :kept, :],
        "... row rank, ... rank col -> ... row col",
    )
    return approximation.to(images.dtype)


def relative_error(approximation: Tensor, target: Tensor) -> Tensor:
    """``‖approximation − target‖_F / ‖target‖_F`` per image ``(N, C, H, W) -> (N,)``, over
    all its channels together."""
    difference = (approximation.double() - target.double()).flatten(1).norm(dim=1)
    return difference / target.double().flatten(1).norm(dim=1).clamp_min(1e-30)


def svd_errors(images: Tensor, ranks: list[int]) -> Tensor:
    """The relative error of the truncated SVD of ``images (N, C, H, W)`` at each rank:
    ``(N, len(ranks))``, from the singular values alone (the norm of the discarded ones)."""
    singular = torch.linalg.svdvals(images.double())  # (N, C, min(H, W))
    total = singular.square().sum(dim=(1, 2)).clamp_min(1e-60)
    rows = [singular[..., rank:].square().sum(dim=(1, 2)) / total for rank in ranks]
    return torch.stack(rows, dim=1).sqrt()
