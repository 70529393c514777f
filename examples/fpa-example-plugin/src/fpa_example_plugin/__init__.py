"""An example fpa plugin: the soft delta rule, registered through the ``fpa`` entry point."""

import torch
from einops import einsum

import fpa


class SoftDeltaRule(fpa.LearningRule):
    """Delta rule that corrects against the squashed retrieval:
    ``M_t = M_{t-1} + lr_t (v_t - tanh(M_{t-1} k_t)) k_tᵀ``.

    Images are ``tanh(M)``, so the error is measured where the pixels live. The tanh inside the
    step leaves no triangular-solve form: only ``step`` is written, and ``paint`` loops over it.
    The step's rate ``lr (..., 1)`` or ``(..., H)`` broadcasts against ``value (..., H)``.
    """

    def step(self, matrix, key, value, lr):
        retrieved = torch.tanh(einsum(matrix, key, "... row col, ... col -> ... row"))
        written = lr * (value - retrieved)
        return matrix + einsum(written, key, "... row, ... col -> ... row col")


@fpa.hookimpl
def fpa_register_rules(register):
    register("soft-delta", SoftDeltaRule, description="Delta rule against tanh(M k) (example)")
