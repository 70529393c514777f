"""Longhorn (Liu, Wang, Wu, Feng, Stone & Liu, ICLR 2025): the closed-form online-regression
update with a diagonal approximation, ``M_t = M_{t-1} ⊙ (1 − ε_t (k_t ⊙ k_t)ᵀ) + (ε_t ⊙ v_t)
k_tᵀ`` with ``ε_t = β_t / (1 + β_t ‖k_t‖²)`` per row, in fpa's orientation (values index rows).
"""

from __future__ import annotations

import math

import torch
from einops import einsum, rearrange
from torch import Tensor

from fpa.rules.base import LearningRule, ParallelPaint
from fpa.rules.gated import decayed_sum


def longhorn_rates(keys: Tensor, rates: Tensor) -> tuple[Tensor, Tensor]:
    """``ε (..., T, R)`` and the squared keys ``(..., T, W)`` of every step."""
    squared = keys * keys
    return rates / (1 + rates * squared.sum(dim=-1, keepdim=True)), squared


def log_keep(forget: Tensor, *, dim: int) -> Tensor:
    """The cumulative ``Σ log(1 − forget)`` over the steps at ``dim``; a factor that rounds to
    0 (a huge rate on a one-hot key) counts as the smallest positive number, not −∞."""
    floor = math.log(torch.finfo(forget.dtype).tiny)
    return torch.log1p(-forget).clamp_min(floor).cumsum(dim=dim)


class LonghornRule(ParallelPaint, LearningRule):
    """Longhorn ``M_t = M_{t-1} ⊙ (1 − ε_t (k_t ⊙ k_t)ᵀ) + (ε_t ⊙ v_t) k_tᵀ``, ``ε_t = β_t /
    (1 + β_t ‖k_t‖²)`` with the rate ``β_t`` per step or per row. Each entry learns on its own:
    ``m_ij ← m_ij + ε_i k_j (v_i − k_j m_ij)``, the delta rule with only the diagonal of
    ``k kᵀ``. With one-hot keys it is ``delta`` at rate ``ε``.

    Rank law: the Hadamard decay ``1 − ε (k ⊙ k)ᵀ`` has rank ≤ 2, so ``rank M_t ≤ 2 rank
    M_{t-1} + 1`` (from ``M_0 = 0``, ``rank M_t ≤ 2ᵗ − 1``); with one rate per step the decay
    is ``M_{t-1} diag(1 − ε (k ⊙ k))``, a right multiplication, and ``rank M_t ≤ rank M_{t-1}
    + 1``.

    Parallel form, a scan per entry: every decay factor ``1 − ε_i k_j²`` lies in (0, 1]
    (``ε_i k_j² < 1``), so with ``L_t = Σ_{s≤t} log(1 − ε_s (k_s ⊙ k_s)ᵀ)``,
    ``M_T = M_0 ⊙ exp L_T + Σ_s (ε_s ⊙ v_s) k_sᵀ ⊙ exp(L_T − L_s)``. With one rate per step the
    decay is per column and this is ``gated-hebb``'s weighted sum; with one per row it is per
    entry, ``(..., T, H, W)``, and every ``M_t`` (``return_all``) is the step loop.
    """

    def step(self, matrix: Tensor, key: Tensor, value: Tensor, lr: Tensor) -> Tensor:
        rate, squared = longhorn_rates(key, lr)
        forget = einsum(rate, squared, "... row, ... col -> ... row col")
        return (
            matrix - matrix * forget + einsum(rate * value, key, "... row, ... col -> ... row col")
        )

    def assemble(
        self,
        keys: Tensor,
        values: Tensor,
        rates: Tensor,
        initial: Tensor | None,
        return_all: bool,
        **commands: Tensor,
    ) -> Tensor:
        rate, squared = longhorn_rates(keys, rates)
        if rate.shape[-1] == 1:
            log_decay = log_keep(rate * squared, dim=-2)
            return decayed_sum(rate * values, keys, log_decay, initial, return_all=return_all)
        if return_all:
            return self.paint_by_steps(keys, values, rates, initial=initial, return_all=True)
        forget = einsum(rate, squared, "... step row, ... step col -> ... step row col")
        log_decay = log_keep(forget, dim=-3)
        last = log_decay[..., -1:, :, :]
        writes = einsum(rate * values, keys, "... step row, ... step col -> ... step row col")
        painted = (writes * (last - log_decay).exp()).sum(dim=-3)
        if initial is None:
            return painted
        return painted + initial * rearrange(last, "... 1 row col -> ... row col").exp()
