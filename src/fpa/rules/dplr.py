"""The generalised delta rule of RWKV-7: a diagonal-plus-low-rank transition.

``M_t = M_{t-1} (diag(w_t) − κ_t (a_t ⊙ κ_t)ᵀ) + r_t v_t k_tᵀ`` (Peng et al. 2025, "RWKV-7
Goose"; fla's ``generalized_delta_rule/dplr``), in fpa's orientation: values index rows, keys
index columns. The decay ``w_t`` and in-context rate ``a_t`` are per key column, the removal
key ``κ_t`` is a unit vector: the step reads ``M_{t-1} κ_t`` and takes it back out along
``a_t ⊙ κ_t``, while the decay forgets each column at its own pace.
"""

from __future__ import annotations

import torch
from einops import einsum
from torch import Tensor

from fpa.commands import Command
from fpa.rules.base import LearningRule, ParallelPaint, required, solve_unit_lower
from fpa.rules.gated import GATE_BIAS, decayed_overlap, decayed_sum, log_decays


class DplrDeltaRule(ParallelPaint, LearningRule):
    """Generalised delta (RWKV-7) ``M_t = M_{t-1} (diag(w_t) − κ_t (a_t ⊙ κ_t)ᵀ) + r_t v_t
    k_tᵀ`` with commands ``decay`` (w, per column, sigmoid), ``removal_key`` (κ, per column,
    normalised to unit length) and ``in_context_rate`` (a, per column, sigmoid). Rank law:
    ``rank M_t ≤ rank M_{t-1} + 1`` (the transition multiplies from the right). With
    ``w = 1`` and ``a = 0`` it is ``hebb``; with ``w = 1``, ``κ = k`` (unit keys) and
    ``a = r`` (one rate per step) it is ``delta``.

    Parallel form: the reads ``ρ_t = M_{t-1} κ_t`` solve one unit-lower-triangular system,
    ``(I + tril₋₁(A_b)) P = tril₋₁(A_k) (r ⊙ V) + (κ ⊙ exp L⁻) M_0ᵀ`` with
    ``A_x[t, s] = Σ_j κ_tj x_sj exp(L⁻_tj − L_sj)``, ``L`` the cumulative log decay and ``L⁻``
    the one before it, ``b_s = a_s ⊙ κ_s``; then ``M_T = M_0 diag(exp L_T) + Σ_s (r_s v_s k_sᵀ
    − ρ_s b_sᵀ) diag(exp(L_T − L_s))``. The rates only scale the right-hand side, so per-row
    rates need no more solves.
    """

    # Its chunks are shorter: each chunk solves two (C, C) systems from per-column decayed
    # overlaps, and 16 steps ran 1.7x its step loop at T = 64 where 32 ran 1.4x (docs/rules.md).
    chunk_steps = 16

    commands = (
        Command("decay", size="column", activation="sigmoid", initial_bias=GATE_BIAS),
        # A constant start, so the unit removal key starts uniform: l2 of zeros is 0, with a
        # slope of 1/eps there.
        Command("removal_key", size="column", activation="l2", neutral=0.0, initial_bias=1.0),
        Command("in_context_rate", size="column", activation="sigmoid", neutral=0.0),
    )

    def step(
        self,
        matrix: Tensor,
        key: Tensor,
        value: Tensor,
        lr: Tensor,
        decay: Tensor | None = None,
        removal_key: Tensor | None = None,
        in_context_rate: Tensor | None = None,
    ) -> Tensor:
        removal = required(removal_key, "removal_key")
        read = einsum(matrix, removal, "... row col, ... col -> ... row")
        taken_along = required(in_context_rate, "in_context_rate") * removal
        kept = matrix * required(decay, "decay").unsqueeze(-2)
        kept = kept - einsum(read, taken_along, "... row, ... col -> ... row col")
        return kept + einsum(lr * value, key, "... row, ... col -> ... row col")

    def assemble(
        self,
        keys: Tensor,
        values: Tensor,
        rates: Tensor,
        initial: Tensor | None,
        return_all: bool,
        **commands: Tensor,
    ) -> Tensor:
        removal = commands["removal_key"]
        taken_along = commands["in_context_rate"] * removal
        log_decay = log_decays(commands["decay"])
        # L⁻_t = L_{t-1}: the read at step t sees the matrix before that step's decay.
        before = torch.cat(
            [torch.zeros_like(log_decay[..., :1, :]), log_decay[..., :-1, :]], dim=-2
        )
        written = rates * values
        # Both overlaps at once (a leading axis of 2): their decays are formed once.
        with_keys, with_removal = decayed_overlap(
            removal, torch.stack([keys, taken_along]), before, log_decay
        ).unbind(0)
        rhs = einsum(with_keys, written, "... t s, ... s row -> ... t row")
        if initial is not None:
            decayed_removal = removal * before.exp()
            rhs = rhs + einsum(initial, decayed_removal, "... row col, ... t col -> ... t row")
        reads = solve_unit_lower(with_removal, rhs)
        painted = decayed_sum(written, keys, log_decay, initial, return_all=return_all)
        removed = decayed_sum(reads, taken_along, log_decay, None, return_all=return_all)
        return painted - removed
