"""Learning rules: hebb, delta, oja. Registered through fpa's own plugin hook."""

from fpa.plugins import hookimpl
from fpa.rules.base import LearningRule
from fpa.rules.delta import DeltaRule
from fpa.rules.hebb import HebbRule
from fpa.rules.oja import OjaRule

__all__ = ["DeltaRule", "HebbRule", "LearningRule", "OjaRule"]


@hookimpl
def fpa_register_rules(register):
    register("hebb", HebbRule, description="Hebbian: add lr·v kᵀ (parallel: one matmul)")
    register(
        "delta",
        DeltaRule,
        description="Delta rule: write lr·(v − M k) kᵀ (parallel: one triangular solve)",
    )
    register(
        "oja",
        OjaRule,
        description="Oja's rule: add lr·v (k − Mᵀ v)ᵀ (parallel: one triangular solve)",
    )
