"""Learning rules: hebb, delta, oja, gated-delta, gated-hebb, registered through fpa's own hook."""

from fpa.plugins import hookimpl
from fpa.rules.base import LearningRule
from fpa.rules.delta import DeltaRule
from fpa.rules.gated import GatedDeltaRule, GatedHebbRule
from fpa.rules.hebb import HebbRule
from fpa.rules.oja import OjaRule

__all__ = [
    "DeltaRule",
    "GatedDeltaRule",
    "GatedHebbRule",
    "HebbRule",
    "LearningRule",
    "OjaRule",
]


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
    register(
        "gated-delta",
        GatedDeltaRule,
        description="Gated delta: decay by α, then delta's write (parallel: one triangular solve)",
    )
    register(
        "gated-hebb",
        GatedHebbRule,
        description="Gated Hebbian: decay by α (per step or column), add lr·v kᵀ (parallel: a sum)",
    )
