"""Longhorn (Liu, Wang, Wu, Feng, Stone & Liu, ICLR 2025): the closed-form online-regression
update with a diagonal approximation, ``M_t = M_{t-1} ⊙ (1 − ε_t (k_t ⊙ k_t)ᵀ) + (ε_t ⊙ v_t)
k_tᵀ`` with ``ε_t = β_t / (1 + β_t ‖k_t‖²)`` per row, in fpa's orientation (values index rows).
"""

from __future__ import annotations

from einops import einsum
from torch import Tensor

from fpa.rules.base import LearningRule


class LonghornRule(LearningRule):
    """Longhorn ``M_t = M_{t-1} ⊙ (1 − ε_t (k_t ⊙ k_t)ᵀ) + (ε_t ⊙ v_t) k_tᵀ``, ``ε_t = β_t /
    (1 + β_t ‖k_t‖²)`` with the rate ``β_t`` per step or per row. Each entry learns on its own:
    ``m_ij ← m_ij + ε_i k_j (v_i − k_j m_ij)``, the delta rule with only the diagonal of
    ``k kᵀ``. With one-hot keys it is ``delta`` at rate ``ε``.

    Rank law: the Hadamard decay ``1 − ε (k ⊙ k)ᵀ`` has rank ≤ 2, so ``rank M_t ≤ 2 rank
    M_{t-1} + 1`` (from ``M_0 = 0``, ``rank M_t ≤ 2ᵗ − 1``); with one rate per step the decay
    is ``M_{t-1} diag(1 − ε (k ⊙ k))``, a right multiplication, and ``rank M_t ≤ rank M_{t-1}
    + 1``. Step only: a parallel form would need a decay per entry and pair of steps.
    """

    def step(self, matrix: Tensor, key: Tensor, value: Tensor, lr: Tensor) -> Tensor:
        squared = key * key
        rate = lr / (1 + lr * squared.sum(dim=-1, keepdim=True))
        forget = einsum(rate, squared, "... row, ... col -> ... row col")
        return (
            matrix - matrix * forget + einsum(rate * value, key, "... row, ... col -> ... row col")
        )
