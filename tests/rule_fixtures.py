"""Rules that tests add through the plugin manager, like a third party would."""

from __future__ import annotations

from einops import einsum

import fpa


class StepOnlyDeltaRule(fpa.LearningRule):
    """A third-party rule with only ``step``: the delta rule written independently."""

    def step(self, matrix, key, value, lr):
        error = value - einsum(matrix, key, "... row col, ... col -> ... row")
        return matrix + einsum(lr * error, key, "... row, ... col -> ... row col")


class RowDecayHebbRule(fpa.LearningRule):
    """A third-party rule with a command fpa does not know: ``keep (..., H)`` decays each row,
    ``M_t = diag(keep_t) M_{t-1} + lr_t v_t k_tᵀ``; only ``step``. Rank law:
    ``rank M_t ≤ rank M_{t-1} + 1``."""

    commands = (fpa.Command("keep", size="row", activation="sigmoid", neutral=1.0),)

    def step(self, matrix, key, value, lr, keep=None):
        written = einsum(lr * value, key, "... row, ... col -> ... row col")
        return keep.unsqueeze(-1) * matrix + written


class ThirdPartyRules:
    """A plugin object providing two rules, one of them with its own command."""

    @fpa.hookimpl
    def fpa_register_rules(self, register):
        register("step-only-delta", StepOnlyDeltaRule, description="test rule")
        register("row-decay-hebb", RowDecayHebbRule, description="test rule with a command")


class ThrowawayRules:
    """A plugin object like one a user installs, with rules of the given ``names`` (say the
    documented ``my-rule``, and ``ella``, whose name sorts between fpa's own)."""

    def __init__(self, *names: str) -> None:
        self.names = names

    @fpa.hookimpl
    def fpa_register_rules(self, register):
        for name in self.names:
            register(name, StepOnlyDeltaRule, description="a user's rule")
