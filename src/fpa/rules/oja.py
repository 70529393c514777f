"""Oja's rule: the delta rule's trick on the value side, ``p_t = k_t - M_{t-1}ᵀ v_t``.

Parallel form: ``(I + tril(V (lr ⊙ V)ᵀ, -1)) P = K - V M_0`` is unit lower triangular, and
``M_T = M_0 + (lr ⊙ V)ᵀ P``. Per-row rates fit the same single system.
"""

from __future__ import annotations

from einops import einsum
from torch import Tensor

from fpa.rules.base import (
    CHUNK_STEPS,
    LearningRule,
    ParallelPaint,
    solve_unit_lower,
)


class OjaRule(ParallelPaint, LearningRule):
    """Oja's rule ``M_t = M_{t-1} + lr_t · v_t (k_t - M_{t-1}ᵀ v_t)ᵀ``."""

    chunk_steps = CHUNK_STEPS

    def step(self, matrix: Tensor, key: Tensor, value: Tensor, lr: Tensor) -> Tensor:
        corrected_key = key - einsum(matrix, value, "... row col, ... row -> ... col")
        written = lr * value
        return matrix + einsum(written, corrected_key, "... row, ... col -> ... row col")

    def rank_one_factors(
        self, keys: Tensor, values: Tensor, rates: Tensor, initial: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        written = rates * values
        targets = keys
        if initial is not None:
            targets = keys - einsum(values, initial, "... step row, ... row col -> ... step col")
        coupling = einsum(values, written, "... t row, ... s row -> ... t s")
        corrected_keys = solve_unit_lower(coupling, targets)
        return written, corrected_keys
