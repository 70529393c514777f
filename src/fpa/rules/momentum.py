"""Momentum delta: a momentum matrix carries the delta rule's surprise (Titans' memory update,
Behrouz, Zhong & Mirrokni 2025, with a linear memory), in fpa's orientation (values index rows).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import einsum, rearrange
from torch import Tensor

from fpa.commands import Command
from fpa.errors import ConfigError
from fpa.rules.base import LearningRule, ParallelPaint, required
from fpa.rules.gated import GATE_BIAS, decay_between, log_decays, solve_rated

# Starts the momentum's pre-activation at −2: sigmoid(−2) ≈ 0.12, so a fresh painter starts
# close to the delta rule and learns how much surprise to carry.
MOMENTUM_BIAS = -2.0


class MomentumDeltaRule(ParallelPaint, LearningRule):
    """Momentum delta ``P_t = μ_t P_{t-1} + η_t (v_t − M_{t-1} k_t) k_tᵀ``, ``M_t = α_t M_{t-1}
    + P_t``, with the rate ``η_t`` (per step or per row) and commands ``gate`` (α) and
    ``momentum`` (μ), one per step each. Titans writes ``S_t = η_t S_{t-1} − θ_t ∇ℓ`` and
    ``M_t = (1 − α_t) M_{t-1} + S_t``: its ``η, θ, 1 − α`` are fpa's ``μ, η, α``, and
    ``−∇ℓ = (v − M k) kᵀ`` up to a factor 2. With α = 1 and μ = 0 it is ``delta``.

    The momentum ``P`` is carried between steps (:meth:`step_carrying`), so ``step`` alone
    does not define the rule. Rank law: the pair ``[M_t, P_t]`` gains rank ≤ 1 per step (it is
    the pair before times a matrix, plus ``η e_t [k_t, k_t]ᵀ``), so ``rank(M_t − (Π_{s≤t} α_s)
    M_0) ≤ t``, with the rows of that difference in the span of ``k_1 … k_t``; ``rank M_t`` may
    rise by 2 in one step, when the momentum holds what the matrix has just cancelled.

    Parallel form: with the errors ``e_t = η_t ⊙ (v_t − M_{t-1} k_t)``, every ``M_t`` is
    ``(Π_{r≤t} α_r) M_0 + Σ_{s≤t} c_ts e_s k_sᵀ``, where ``c_ts = Σ_{s≤τ≤t} (Π_{τ<r≤t} α_r)
    (Π_{s<r≤τ} μ_r)`` weighs what step s wrote through the momentum and then the matrix: ``C``
    is the product of the two lower-triangular decay matrices. The errors solve one
    unit-lower-triangular system, as the delta rule's do:
    ``(I + diag(η) tril₋₁(C_prev ⊙ K Kᵀ)) E = diag(η) (V − (Π_{r<t} α_r) K M_0ᵀ)``, with
    ``C_prev`` the weights ``c_{t−1,s}`` of the matrix each step reads.
    """

    commands = (
        Command("gate", size="one", activation="sigmoid", initial_bias=GATE_BIAS),
        Command(
            "momentum", size="one", activation="sigmoid", neutral=0.0, initial_bias=MOMENTUM_BIAS
        ),
    )

    def start_carry(self, matrix: Tensor) -> tuple[Tensor, ...]:
        return (torch.zeros_like(matrix),)

    def step_carrying(
        self,
        matrix: Tensor,
        carry: tuple[Tensor, ...],
        key: Tensor,
        value: Tensor,
        lr: Tensor,
        **commands: Tensor,
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        (momentum,) = carry
        gate = required(commands.get("gate"), "gate").unsqueeze(-1)
        keep = required(commands.get("momentum"), "momentum").unsqueeze(-1)
        error = value - einsum(matrix, key, "... row col, ... col -> ... row")
        momentum = keep * momentum + einsum(lr * error, key, "... row, ... col -> ... row col")
        return gate * matrix + momentum, (momentum,)

    def assemble(
        self,
        keys: Tensor,
        values: Tensor,
        rates: Tensor,
        initial: Tensor | None,
        return_all: bool,
        **commands: Tensor,
    ) -> Tensor:
        log_gate = log_decays(commands["gate"])
        gated = decay_between(log_gate, strict=False).squeeze(-1)
        carried = decay_between(log_decays(commands["momentum"]), strict=False).squeeze(-1)
        weights = einsum(gated, carried, "... t tau, ... tau s -> ... t s")
        # The matrix step t reads is M_{t-1}: its weights are the row above, M_0's decay the
        # gates before t.
        read_weights = F.pad(weights, (0, 0, 1, 0))[..., :-1, :]
        overlap = read_weights * einsum(keys, keys, "... t col, ... s col -> ... t s")
        targets = values
        if initial is not None:
            read_decay = F.pad(log_gate, (0, 0, 1, 0))[..., :-1, :].exp()
            targets = values - read_decay * einsum(
                initial, keys, "... row col, ... step col -> ... step row"
            )
        errors = solve_rated(overlap, rates, targets)
        if not return_all:
            weighted = errors * rearrange(weights[..., -1, :], "... s -> ... s 1")
            painted = einsum(weighted, keys, "... s row, ... s col -> ... row col")
            if initial is None:
                return painted
            return painted + initial * rearrange(log_gate[..., -1, :].exp(), "... 1 -> ... 1 1")
        painted = einsum(errors, weights, keys, "... s row, ... t s, ... s col -> ... t row col")
        if initial is None:
            return painted
        return painted + initial.unsqueeze(-3) * rearrange(log_gate.exp(), "... t 1 -> ... t 1 1")

    def step(
        self, matrix: Tensor, key: Tensor, value: Tensor, lr: Tensor, **commands: Tensor
    ) -> Tensor:
        raise ConfigError(
            "momentum-delta carries a momentum between steps: call step_carrying with "
            "start_carry(matrix), or paint"
        )
