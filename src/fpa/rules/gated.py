"""Gated rules: the matrix decays by a gate ``α_t ∈ (0, 1]`` before each write.

``gated-delta`` (Gated DeltaNet; Yang, Kautz & Hatamizadeh, ICLR 2025; with a gate per key
column, Kimi Delta Attention, Kimi Team 2025) and ``gated-hebb`` (the gated linear attention
of GLA and Mamba-2), in fpa's orientation: values index rows, keys index columns. Both forms
use the log-space cumulative decay ``L_t = Σ_{s≤t} log α_s``, so every decay between two steps
is ``exp(L_t − L_s) ≤ 1``: no division by a small product.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from einops import einsum, rearrange
from torch import Tensor

from fpa.commands import Command
from fpa.rules.base import (
    CHUNK_STEPS,
    LearningRule,
    ParallelPaint,
    required,
    solve_unit_lower,
)

# Starts the gate's pre-activation at 4: sigmoid(4) ≈ 0.98, so a fresh painter forgets slowly.
GATE_BIAS = 4.0


def log_decays(gate: Tensor) -> Tensor:
    """``L (..., T, G)``: the cumulative sum over the steps of ``log α``."""
    tiny = torch.finfo(gate.dtype).tiny
    return gate.clamp_min(tiny).log().cumsum(dim=-2)


def decay_between(log_decay: Tensor, *, strict: bool) -> Tensor:
    """``exp(L_t − L_s)`` for s < t (``strict``) or s ≤ t, 0 above: ``(..., T, S, G)``."""
    return decay_from(log_decay, log_decay, strict=strict)


def decay_from(ends: Tensor, starts: Tensor, *, strict: bool) -> Tensor:
    """``exp(E_t − S_s)`` for s < t (``strict``) or s ≤ t, 0 above: ``(..., T, S, G)`` from
    cumulative log decays ``ends`` and ``starts`` ``(..., T, G)`` with ``E_t ≤ S_s`` there.

    The exponent is ``E_t + (−S_s)`` plus a constant −∞ above the kept triangle, so no mask
    is applied to a (T, S) tensor and the backward pass only sums."""
    steps = ends.shape[-2]
    above = torch.full((steps, steps), -torch.inf, dtype=ends.dtype, device=ends.device)
    above = above.triu(diagonal=0 if strict else 1)
    exponent = rearrange(ends, "... t g -> ... t 1 g") + rearrange(above, "t s -> t s 1")
    return (exponent + rearrange(-starts, "... s g -> ... 1 s g")).exp()


def decayed_sum(
    rows: Tensor, columns: Tensor, log_decay: Tensor, initial: Tensor | None, *, return_all: bool
) -> Tensor:
    """``M_t = M_0 ⊙ exp(L_t) + Σ_{s≤t} rows_s (columns_s ⊙ exp(L_t − L_s))ᵀ`` with the decay
    ``(..., T, G)`` per step (G = 1) or per column (G = W); ``M_T``, or every ``M_t``."""
    if return_all:
        weighted = decay_between(log_decay, strict=False) * rearrange(
            columns, "... s col -> ... 1 s col"
        )
        painted = einsum(rows, weighted, "... s row, ... t s col -> ... t row col")
        if initial is None:
            return painted
        return painted + initial.unsqueeze(-3) * log_decay.exp().unsqueeze(-2)
    last = log_decay[..., -1:, :]
    weighted = columns * (last - log_decay).exp()
    painted = einsum(rows, weighted, "... step row, ... step col -> ... row col")
    return painted if initial is None else painted + initial * last.exp()


# Steps per chunk of the per-column decayed overlaps: pairs of steps in one chunk take their
# decays explicitly, pairs across chunks two bounded factors through a matmul.
CHUNK = 8


def decayed_overlap(reads: Tensor, writes: Tensor, ends: Tensor, starts: Tensor) -> Tensor:
    """``Σ_j reads_tj writes_sj exp(E_tj − S_sj)`` for s < t, 0 elsewhere: ``(..., T, S)``, from
    cumulative log decays ``ends`` and ``starts`` ``(..., T, G)`` per step (G = 1) or per
    column (G = W), with ``E_t ≤ S_s`` for s < t."""
    if ends.shape[-1] == 1:
        gram = einsum(reads, writes, "... t col, ... s col -> ... t s")
        return decay_from(ends, starts, strict=True).squeeze(-1) * gram
    return chunked_overlap(reads, writes, ends, starts)


def chunked_overlap(
    reads: Tensor, writes: Tensor, ends: Tensor, starts: Tensor, *, chunk: int = CHUNK
) -> Tensor:
    """:func:`decayed_overlap` with a decay per column, in O(T·(T/C + C)·W) exponentials
    instead of O(T²·W): for s before chunk n and t in it, ``exp(E_t − S_s) = exp(E_t − R_n)
    exp(R_n − S_s)`` with ``R_n`` the ``S`` just before the chunk, both factors ≤ 1, so the
    pairs across chunks are one matmul per chunk; pairs inside a chunk take their decays
    explicitly."""
    steps = reads.shape[-2]
    pad = -steps % chunk
    if pad:
        reads, writes = (F.pad(t, (0, 0, 0, pad)) for t in (reads, writes))
        ends, starts = (
            torch.cat([t, t[..., -1:, :].expand(*t.shape[:-2], pad, t.shape[-1])], dim=-2)
            for t in (ends, starts)
        )
    chunks = reads.shape[-2] // chunk
    into = "... (chunk step) g -> ... chunk step g"
    reads_c, writes_c = rearrange(reads, into, step=chunk), rearrange(writes, into, step=chunk)
    ends_c, starts_c = rearrange(ends, into, step=chunk), rearrange(starts, into, step=chunk)
    # R_n: S at the last step of chunk n − 1 (chunk 0 has no earlier steps; its R is unused).
    reference = torch.cat([starts_c[..., :1, :1, :], starts_c[..., :-1, -1:, :]], dim=-3)
    near = reads_c * (ends_c - reference).clamp(max=0).exp()
    position = torch.arange(reads.shape[-2], device=reads.device)
    before = position[None, :] < (torch.arange(chunks, device=reads.device)[:, None] * chunk)
    far_log = reference - rearrange(starts, "... s g -> ... 1 s g")
    far = writes.unsqueeze(-3) * far_log.masked_fill(~before[:, :, None], -torch.inf).exp()
    across = einsum(near, far, "... chunk t g, ... chunk s g -> ... chunk t s")
    inside = einsum(
        decay_from(ends_c, starts_c, strict=True),
        reads_c,
        writes_c,
        "... chunk t s g, ... chunk t g, ... chunk s g -> ... chunk t s",
    )
    diagonal = torch.eye(chunks, dtype=reads.dtype, device=reads.device)
    blocks = einsum(inside, diagonal, "... chunk t s, chunk other -> ... chunk t other s")
    overlap = rearrange(across, "... chunk t s -> ... (chunk t) s") + rearrange(
        blocks, "... chunk t other s -> ... (chunk t) (other s)"
    )
    return overlap[..., :steps, :steps]


def solve_rated(overlap: Tensor, rates: Tensor, targets: Tensor) -> Tensor:
    """Solve ``(I + diag(r) tril₋₁(overlap)) U = diag(r) targets`` for rates ``(..., T, R)``:
    one system, or with one rate per row (R = H) one per row; ``U (..., T, H)``."""
    if rates.shape[-1] == 1:
        return solve_unit_lower(rates * overlap, rates * targets)
    system = rearrange(rates, "... t row -> ... row t 1") * overlap.unsqueeze(-3)
    rhs = rearrange(rates * targets, "... t row -> ... row t 1")
    solved = solve_unit_lower(system, rhs)
    return rearrange(solved, "... row t 1 -> ... t row")


def solve_decayed(keys: Tensor, log_decay: Tensor, rates: Tensor, targets: Tensor) -> Tensor:
    """:func:`solve_rated` on the keys' decayed overlap (:func:`decayed_overlap`); one rate
    per step is folded into the reads (``β_t k_t``) instead of scaling the (T, T) system."""
    if rates.shape[-1] == 1:
        overlap = decayed_overlap(rates * keys, keys, log_decay, log_decay)
        return solve_unit_lower(overlap, rates * targets)
    return solve_rated(decayed_overlap(keys, keys, log_decay, log_decay), rates, targets)


class GatedDeltaRule(ParallelPaint, LearningRule):
    """Gated delta rule ``M_t = M_{t-1} diag(α_t) (I − β_t k_t k_tᵀ) + β_t v_t k_tᵀ``: the delta
    rule on the matrix decayed by a gate ``α_t ∈ (0, 1]`` with rate ``β_t``. The gate is one
    scalar per step (``gate (..., 1)``: ``α_t M_{t-1}``, Gated DeltaNet) or, with
    ``per_column_gate``, one per key column (``gate (..., W)``: Kimi Delta Attention's
    fine-grained decay). Rank law: ``rank M_t ≤ rank M_{t-1} + 1``; with α = 1 it is ``delta``.

    Parallel form: the written rows ``u_t = β_t ⊙ (v_t − M_{t-1} diag(α_t) k_t)`` solve one
    unit-lower-triangular system with the decays inside,
    ``(I + diag(β) tril₋₁(A)) U = diag(β) (V − (K ⊙ exp L) M_0ᵀ)``,
    ``A_ts = Σ_j k_tj k_sj exp(L_tj − L_sj)``; then
    ``M_T = M_0 diag(exp L_T) + Σ_s u_s (k_s ⊙ exp(L_T − L_s))ᵀ``.
    """

    chunk_steps = CHUNK_STEPS

    def __init__(self, *, per_column_gate: bool = False) -> None:
        super().__init__()
        self.per_column_gate = per_column_gate
        size = "column" if per_column_gate else "one"
        self.commands = (Command("gate", size=size, activation="sigmoid", initial_bias=GATE_BIAS),)

    def options(self) -> dict[str, Any]:
        return {"per_column_gate": self.per_column_gate}

    def step(
        self, matrix: Tensor, key: Tensor, value: Tensor, lr: Tensor, gate: Tensor | None = None
    ) -> Tensor:
        decayed = matrix * required(gate, "gate").unsqueeze(-2)
        retrieved = einsum(decayed, key, "... row col, ... col -> ... row")
        written = lr * (value - retrieved)
        return decayed + einsum(written, key, "... row, ... col -> ... row col")

    def assemble(
        self,
        keys: Tensor,
        values: Tensor,
        rates: Tensor,
        initial: Tensor | None,
        return_all: bool,
        **commands: Tensor,
    ) -> Tensor:
        log_decay = log_decays(commands["gate"])
        targets = values
        if initial is not None:
            decayed_keys = keys * log_decay.exp()
            targets = values - einsum(
                initial, decayed_keys, "... row col, ... step col -> ... step row"
            )
        written = solve_decayed(keys, log_decay, rates, targets)
        return decayed_sum(written, keys, log_decay, initial, return_all=return_all)


class GatedHebbRule(ParallelPaint, LearningRule):
    """Gated Hebbian rule ``M_t = M_{t-1} diag(α_t) + β_t v_t k_tᵀ`` with one gate per step
    (``α_t`` a scalar: ``α_t M_{t-1}``) or, with ``per_column_gate``, one per key column.
    Rank law: ``rank M_t ≤ rank M_{t-1} + 1``; with α = 1 it is ``hebb``.

    Parallel form, a weighted sum: ``M_T = M_0 diag(exp L_T) + Σ_s β_s v_s
    (k_s ⊙ exp(L_T − L_s))ᵀ``.
    """

    def __init__(self, *, per_column_gate: bool = False) -> None:
        super().__init__()
        self.per_column_gate = per_column_gate
        size = "column" if per_column_gate else "one"
        self.commands = (Command("gate", size=size, activation="sigmoid", initial_bias=GATE_BIAS),)

    def options(self) -> dict[str, Any]:
        return {"per_column_gate": self.per_column_gate}

    def step(
        self, matrix: Tensor, key: Tensor, value: Tensor, lr: Tensor, gate: Tensor | None = None
    ) -> Tensor:
        decayed = matrix * required(gate, "gate").unsqueeze(-2)
        return decayed + einsum(lr * value, key, "... row, ... col -> ... row col")

    def assemble(
        self,
        keys: Tensor,
        values: Tensor,
        rates: Tensor,
        initial: Tensor | None,
        return_all: bool,
        **commands: Tensor,
    ) -> Tensor:
        log_decay = log_decays(commands["gate"])
        return decayed_sum(rates * values, keys, log_decay, initial, return_all=return_all)
