"""FID and KID against independent computations on known features."""

from __future__ import annotations

import math

import pytest
import torch

from fpa.evaluation import FeatureStats, frechet_distance, kernel_distance
from fpa.evaluation.metrics import NO_SPREAD, kid_std_note


def sqrtm_psd(matrix: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(matrix)
    return vectors @ torch.diag(values.clamp_min(0).sqrt()) @ vectors.T


def reference_fid(a: torch.Tensor, b: torch.Tensor) -> float:
    """FID from the definition, with the symmetric form Tr((Σa^½ Σb Σa^½)^½)."""
    mean_a, mean_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    root_a = sqrtm_psd(cov_a)
    cross = torch.trace(sqrtm_psd(root_a @ cov_b @ root_a))
    return float((mean_a - mean_b).square().sum() + torch.trace(cov_a + cov_b) - 2 * cross)


def reference_kid(a: torch.Tensor, b: torch.Tensor) -> float:
    """Unbiased MMD² with k(x, y) = (x·y / d + 1)³ on the full sets."""
    d, m = a.shape[1], a.shape[0]
    k_aa = (a @ a.T / d + 1) ** 3
    k_bb = (b @ b.T / d + 1) ** 3
    k_ab = (a @ b.T / d + 1) ** 3
    within = (k_aa.sum() - k_aa.diag().sum() + k_bb.sum() - k_bb.diag().sum()) / (m * (m - 1))
    return float(within - 2 * k_ab.mean())


def gaussian(n: int, d: int, *, seed: int, shift: float = 0.0, scale: float = 1.0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=generator, dtype=torch.float64) * scale + shift


def test_identical_feature_sets_score_zero():
    features = FeatureStats.of(gaussian(500, 8, seed=0))
    shifted = FeatureStats.of(gaussian(500, 8, seed=0, shift=0.5))
    assert abs(frechet_distance(features, features)) < 1e-8
    # The unbiased KID of a set with itself is ~0 on the scale of a real difference (not
    # exactly 0: the cross term keeps the diagonal that the within-set terms drop).
    same, _ = kernel_distance(features, features, subsets=20, subset_size=250)
    different, _ = kernel_distance(features, shifted, subsets=20, subset_size=250)
    assert abs(same) < 0.05 * different


@pytest.mark.parametrize("seed", [1, 2])
def test_fid_equals_the_definition_on_the_same_features(seed):
    a = gaussian(400, 6, seed=seed)
    b = gaussian(300, 6, seed=seed + 10, shift=0.3, scale=1.5)
    b[:, 0] += 0.5 * b[:, 1]  # correlated, so the covariances do not commute
    expected = reference_fid(a, b)
    assert frechet_distance(FeatureStats.of(a), FeatureStats.of(b)) == pytest.approx(
        expected, rel=1e-6
    )


def test_fid_of_shifted_gaussians_matches_the_closed_form():
    # N(0, I) against N(mu, s² I) in d dims: |mu|² + d (1 - s)².
    d, shift, scale = 4, 0.5, 2.0
    a = gaussian(40_000, d, seed=3)
    b = gaussian(40_000, d, seed=4, shift=shift, scale=scale)
    closed_form = d * shift**2 + d * (1 - scale) ** 2
    measured = frechet_distance(FeatureStats.of(a), FeatureStats.of(b))
    assert measured == pytest.approx(closed_form, rel=0.03)


def test_kid_equals_the_unbiased_mmd_on_full_sets():
    a = gaussian(150, 5, seed=5)
    b = gaussian(150, 5, seed=6, shift=0.4)
    # One subset as large as the sets is the whole set (drawn without replacement).
    mean, std = kernel_distance(FeatureStats.of(a), FeatureStats.of(b), subsets=1, subset_size=150)
    assert mean == pytest.approx(reference_kid(a, b), rel=1e-9)
    assert std == 0


def test_kid_grows_with_the_shift_and_is_near_zero_without():
    a = FeatureStats.of(gaussian(600, 8, seed=7))
    same = FeatureStats.of(gaussian(600, 8, seed=8))
    shifted = FeatureStats.of(gaussian(600, 8, seed=9, shift=0.5))
    near, _ = kernel_distance(a, same, subsets=20, subset_size=300)
    far, _ = kernel_distance(a, shifted, subsets=20, subset_size=300)
    assert math.isfinite(far) and abs(near) < 0.05 * far


def test_kid_subset_shrinks_to_the_smaller_set():
    a = FeatureStats.of(gaussian(120, 4, seed=10))
    b = FeatureStats.of(gaussian(90, 4, seed=11))
    mean, _ = kernel_distance(a, b)  # default subset size 1000 > both sets
    assert math.isfinite(mean)


def test_a_kid_std_of_rounding_comes_with_a_note_and_a_real_spread_does_not():
    a = FeatureStats.of(gaussian(90, 4, seed=10))
    b = FeatureStats.of(gaussian(90, 4, seed=11, shift=0.3))
    kid, whole = kernel_distance(a, b, subsets=10)  # every subset holds all 90 of each
    assert whole < NO_SPREAD
    note = kid_std_note({"kid": kid, "kid_std": whole})
    assert note is not None and "kid_std ≈ 0 is no spread" in note and "more than 1,000" in note
    kid, spread = kernel_distance(a, b, subsets=10, subset_size=30)
    assert spread > NO_SPREAD and kid_std_note({"kid": kid, "kid_std": spread}) is None
    assert kid_std_note({"fid": 1.0}) is None
