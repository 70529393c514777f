"""Truncation: latents pulled towards the mean latent, trading diversity for fidelity.

``z' = mean + ψ (z − mean)``. fpa's latents are standard normal, so the mean latent is 0 and
``z' = ψ z``: ψ = 1 leaves them unchanged (the very tensor is returned), ψ < 1 draws them into
the dense middle of the distribution where a generator has seen the most, ψ = 0 paints the
mean latent's image for every sample (Marchesi 2017; Brock et al. 2019; Karras et al. 2019).
"""

from __future__ import annotations

import math

from torch import Tensor

from fpa.errors import ConfigError


def check_truncation(psi: float) -> float:
    """ψ must be a finite number ≥ 0."""
    if isinstance(psi, bool) or not isinstance(psi, int | float) or not math.isfinite(psi):
        raise ConfigError(f"truncation ψ must be a finite number; got {psi!r}")
    if psi < 0:
        raise ConfigError(f"truncation ψ must be at least 0; got {psi}")
    return float(psi)


def truncate(latents: Tensor, psi: float, *, mean: Tensor | None = None) -> Tensor:
    """``latents (B, D)`` pulled towards ``mean (D,)`` (default 0, the mean of standard
    normal latents) by the factor ψ; ψ = 1 returns ``latents`` itself, exactly."""
    psi = check_truncation(psi)
    if psi == 1.0:
        return latents
    if mean is None:
        return latents * psi
    return mean + psi * (latents - mean)
