"""FID and KID on feature vectors, computed by torch-fidelity's implementations.

fpa supplies the features (see :mod:`fpa.features`) and the caching; the formulas are
torch-fidelity's: the Fréchet distance between Gaussians fitted to the two feature sets
(Heusel et al. 2017) and the unbiased polynomial-kernel MMD² averaged over random subsets
(Bińkowski et al. 2018).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000


@dataclass(frozen=True)
class FeatureStats:
    """Features ``(N, D)`` with their mean and covariance (float64), as FID and KID need."""

    features: torch.Tensor
    mean: np.ndarray
    covariance: np.ndarray

    @classmethod
    def of(cls, features: torch.Tensor) -> FeatureStats:
        from torch_fidelity.metric_fid import fid_features_to_statistics

        features = features.detach().double().cpu()
        if features.ndim != 2 or features.shape[0] < 2:
            raise ValueError(f"need (N >= 2, D) features; got {tuple(features.shape)}")
        stats = fid_features_to_statistics(features)
        return cls(features=features, mean=stats["mu"], covariance=stats["sigma"])

    @property
    def count(self) -> int:
        return self.features.shape[0]


def frechet_distance(real: FeatureStats, fake: FeatureStats) -> float:
    """FID: ‖μ_r − μ_f‖² + Tr(Σ_r + Σ_f − 2 (Σ_r Σ_f)^½)."""
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_statistics_to_metric

    result = fid_statistics_to_metric(
        {"mu": real.mean, "sigma": real.covariance},
        {"mu": fake.mean, "sigma": fake.covariance},
        verbose=False,
    )
    return result[KEY_METRIC_FID]


def kernel_distance(
    real: FeatureStats,
    fake: FeatureStats,
    *,
    subsets: int = KID_SUBSETS,
    subset_size: int = KID_SUBSET_SIZE,
    seed: int = 0,
) -> tuple[float, float]:
    """KID (mean, std over subsets) with the cubic polynomial kernel; the subset size shrinks
    to the smaller set when either holds fewer than ``subset_size`` features."""
    from torch_fidelity.metric_kid import (
        KEY_METRIC_KID_MEAN,
        KEY_METRIC_KID_STD,
        kid_features_to_metric,
    )

    size = min(subset_size, real.count, fake.count)
    result = kid_features_to_metric(
        real.features,
        fake.features,
        kid_subsets=subsets,
        kid_subset_size=size,
        rng_seed=seed,
        verbose=False,
    )
    return result[KEY_METRIC_KID_MEAN], result[KEY_METRIC_KID_STD]


NO_SPREAD = 1e-9
"""A ``kid_std`` below this is float rounding, not a spread over subsets."""


def kid_std_note(scores: dict[str, float]) -> str | None:
    """What a ``kid_std`` of about 0 means, or None when there is none or it is a spread."""
    if scores.get("kid_std", NO_SPREAD) >= NO_SPREAD:
        return None
    return (
        f"kid_std ≈ 0 is no spread: with {KID_SUBSET_SIZE:,} or fewer images on each side, "
        f"every KID subset holds them all; evaluate more than {KID_SUBSET_SIZE:,} for one"
    )


def scores(real: FeatureStats, fake: FeatureStats, metrics: tuple[str, ...]) -> dict[str, float]:
    """The requested metrics as a flat dict: ``fid``, ``kid`` and ``kid_std``."""
    result: dict[str, float] = {}
    if "fid" in metrics:
        result["fid"] = frechet_distance(real, fake)
    if "kid" in metrics:
        result["kid"], result["kid_std"] = kernel_distance(real, fake)
    return result
