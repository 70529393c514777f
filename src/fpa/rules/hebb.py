"""The Hebbian rule: add ``lr_t · v_t k_tᵀ``; order-free, so its parallel form is one matmul."""

from __future__ import annotations

from einops import einsum
from torch import Tensor

from fpa.rules.base import LearningRule, ParallelPaint


class HebbRule(ParallelPaint, LearningRule):
    """Purely additive outer products: ``M_t = M_{t-1} + lr_t · v_t k_tᵀ``."""

    def step(self, matrix: Tensor, key: Tensor, value: Tensor, lr: Tensor) -> Tensor:
        written = lr * value
        return matrix + einsum(written, key, "... row, ... col -> ... row col")

    def rank_one_factors(
        self, keys: Tensor, values: Tensor, rates: Tensor, initial: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        return rates * values, keys
