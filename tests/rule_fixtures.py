"""Rules that tests add through the plugin manager, like a third party would."""

from __future__ import annotations

from einops import einsum

import fpa


class StepOnlyDeltaRule(fpa.LearningRule):
    """A third-party rule with only ``step``: the delta rule written independently."""

    def step(self, matrix, key, value, lr):
        error = value - einsum(matrix, key, "... row col, ... col -> ... row")
        return matrix + einsum(lr * error, key, "... row, ... col -> ... row col")


class ThirdPartyRules:
    """A plugin object providing one rule."""

    @fpa.hookimpl
    def fpa_register_rules(self, register):
        register("step-only-delta", StepOnlyDeltaRule, description="test rule")


class ThrowawayRules:
    """A plugin object like one a user installs, with rules of the given ``names`` (say the
    documented ``my-rule``, and ``ella``, whose name sorts between fpa's own)."""

    def __init__(self, *names: str) -> None:
        self.names = names

    @fpa.hookimpl
    def fpa_register_rules(self, register):
        for name in self.names:
            register(name, StepOnlyDeltaRule, description="a user's rule")
