"""Decomposition with a rule and no painter (``fpa decompose``): the commands that make a
learning rule paint a given image, against the truncated SVD (docs/conditioning.md)."""

from fpa.decomposition.fit import Decomposition, DecompositionConfig, decompose
from fpa.decomposition.svd import relative_error, svd_errors, svd_truncation

__all__ = [
    "Decomposition",
    "DecompositionConfig",
    "decompose",
    "relative_error",
    "svd_errors",
    "svd_truncation",
]
