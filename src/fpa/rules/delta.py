"""The delta rule: write the error between the value and what the key already retrieves.

Parallel form: the effective values ``u_t = lr_t (v_t - M_{t-1} k_t)`` satisfy one
unit-lower-triangular system ``(I + diag(lr) tril(K Kᵀ, -1)) U = diag(lr) (V - K M_0ᵀ)``;
then ``M_T = M_0 + Uᵀ K``. With one rate per row the system splits into H independent ones.
Where keys and rates are shared by the channels (shared-key and coloured strokes) the system
is too: it is built and solved once, with the channels as extra right-hand-side columns.
"""

from __future__ import annotations

from typing import Any

import torch
from einops import einsum, rearrange
from torch import Tensor

from fpa.rules.base import (
    CHUNK_STEPS,
    LearningRule,
    ParallelPaint,
    solve_unit_lower,
)


class DeltaRule(ParallelPaint, LearningRule):
    """Error-correcting update ``M_t = M_{t-1} + lr_t (v_t - M_{t-1} k_t) k_tᵀ``.

    ``first_step_unit_rate=True`` uses rate 1 at the first step, so that from ``M_0 = 0`` the
    first update is ``v_1 k_1ᵀ`` as in the authors' code (needed to reproduce their models).
    """

    chunk_steps = CHUNK_STEPS

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
        shared = shared_axes(keys, rates)
        once_keys, once_rates = first_of(keys, shared), first_of(rates, shared)
        overlap = einsum(once_keys, once_keys, "... t col, ... s col -> ... t s")
        if rates.shape[-1] == 1:
            written = solve_shared(once_rates * overlap, rates * targets, shared)
            return written, keys
        per_row_system = rearrange(once_rates, "... t row -> ... row t 1") * overlap.unsqueeze(-3)
        per_row_rhs = rearrange(rates * targets, "... t row -> ... row t 1")
        solved = solve_shared(per_row_system, per_row_rhs, shared)
        return rearrange(solved, "... row t 1 -> ... t row"), keys


def shared_axes(keys: Tensor, rates: Tensor) -> list[int]:
    """Leading axes along which keys and rates are broadcast views (stride 0), as the channels
    of shared-key and coloured strokes are: the delta system is the same along them."""
    return [
        axis
        for axis in range(keys.dim() - 2)
        if keys.shape[axis] > 1
        and keys.stride(axis) == 0
        and (rates.shape[axis] == 1 or rates.stride(axis) == 0)
    ]


def first_of(tensor: Tensor, axes: list[int]) -> Tensor:
    """The tensor narrowed to its first entry (kept as size 1) along each of ``axes``."""
    for axis in axes:
        tensor = tensor.narrow(axis, 0, 1)
    return tensor


def solve_shared(system: Tensor, rhs: Tensor, shared: list[int]) -> Tensor:
    """Solve ``(I + system) X = rhs`` once for every slice along the ``shared`` axes, on which
    ``system`` has size 1: those axes of ``rhs`` become extra right-hand-side columns, so one
    Gram matrix and one triangular solve serve all channels of a stroke."""
    if not shared:
        return solve_unit_lower(system, rhs)
    ends = list(range(rhs.dim() - len(shared), rhs.dim()))
    moved = rhs.movedim(shared, ends)
    columns = moved.reshape(*moved.shape[: -len(shared) - 1], -1)
    solved = solve_unit_lower(system.squeeze(shared), columns)
    return solved.reshape(moved.shape).movedim(ends, shared)
