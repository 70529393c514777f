"""The delta rule: write the error between the value and what the key already retrieves.

Parallel form: the effective values ``u_t = lr_t (v_t - M_{t-1} k_t)`` satisfy one
unit-lower-triangular system ``(I + diag(lr) tril(K Kᵀ, -1)) U = diag(lr) (V - K M_0ᵀ)``;
then ``M_T = M_0 + Uᵀ K``. With one rate per row the system splits into H independent ones.
"""

from __future__ import annotations

from typing import Any

import torch
from einops import einsum, rearrange
from torch import Tensor

from fpa.rules.base import (
    LearningRule,
    ParallelPaint,
    solve_unit_lower,
    strictly_lower,
)


class DeltaRule(ParallelPaint, LearningRule):
    """Error-correcting update ``M_t = M_{t-1} + lr_t (v_t - M_{t-1} k_t) k_tᵀ``.

    ``first_step_unit_rate=True`` uses rate 1 at the first step, so that from ``M_0 = 0`` the
    first update is ``v_1 k_1ᵀ`` as in the authors' code (needed to reproduce their models).
    """

    def __init__(self, *, first_step_unit_rate: bool = False) -> None:
        super().__init__()
        self.first_step_unit_rate = first_step_unit_rate

    def options(self) -> dict[str, Any]:
        return {"first_step_unit_rate": self.first_step_unit_rate}

    def effective_rates(self, rates: Tensor) -> Tensor:
        if not self.first_step_unit_rate:
            return rates
        first = torch.ones_like(rates[..., :1, :])
        return torch.cat([first, rates[..., 1:, :]], dim=-2)

    def step(self, matrix: Tensor, key: Tensor, value: Tensor, lr: Tensor) -> Tensor:
        retrieved = einsum(matrix, key, "... row col, ... col -> ... row")
        written = lr * (value - retrieved)
        return matrix + einsum(written, key, "... row, ... col -> ... row col")

    def rank_one_factors(
        self, keys: Tensor, values: Tensor, rates: Tensor, initial: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        targets = values
        if initial is not None:
            targets = values - einsum(initial, keys, "... row col, ... step col -> ... step row")
        overlap = strictly_lower(einsum(keys, keys, "... t col, ... s col -> ... t s"))
        if rates.shape[-1] == 1:
            written = solve_unit_lower(rates * overlap, rates * targets)
            return written, keys
        per_row_system = rearrange(rates, "... t row -> ... row t 1") * overlap.unsqueeze(-3)
        per_row_rhs = rearrange(rates * targets, "... t row -> ... row t 1")
        solved = solve_unit_lower(per_row_system, per_row_rhs)
        return rearrange(solved, "... row t 1 -> ... t row"), keys
