"""Learning rules: hebb, delta, oja, gated-delta, gated-hebb, dplr, longhorn and
momentum-delta, registered through fpa's own hook."""

from fpa.plugins import hookimpl
from fpa.rules.base import LearningRule
from fpa.rules.delta import DeltaRule
from fpa.rules.dplr import DplrDeltaRule
from fpa.rules.gated import GatedDeltaRule, GatedHebbRule
from fpa.rules.hebb import HebbRule
from fpa.rules.longhorn import LonghornRule
from fpa.rules.momentum import MomentumDeltaRule
from fpa.rules.oja import OjaRule

__all__ = [
    "DeltaRule",
    "DplrDeltaRule",
    "GatedDeltaRule",
    "GatedHebbRule",
    "HebbRule",
    "LearningRule",
    "LonghornRule",
    "MomentumDeltaRule",
    "OjaRule",
]


@hookimpl
def fpa_register_rules(register):
    register("hebb", HebbRule, description="Hebbian: add lr·v kᵀ (parallel: one matmul)")
    register(
        "delta",
        DeltaRule,
        description="Delta rule: write lr·(v − M k) kᵀ (parallel: a triangular solve per chunk)",
    )
    register(
        "oja",
        OjaRule,
        description="Oja's rule: add lr·v (k − Mᵀ v)ᵀ (parallel: a triangular solve per chunk)",
    )
    register(
        "gated-delta",
        GatedDeltaRule,
        description="Gated delta: decay by α (per step, or per column as KDA), then delta's write "
        "(parallel: a triangular solve per chunk)",
    )
    register(
        "gated-hebb",
        GatedHebbRule,
        description="Gated Hebbian: decay by α (per step or column), add lr·v kᵀ (parallel: a sum)",
    )
    register(
        "dplr",
        DplrDeltaRule,
        description="Generalised delta (RWKV-7): M (diag(w) − κ (a ⊙ κ)ᵀ) + lr·v kᵀ "
        "(parallel: a triangular solve per chunk)",
    )
    register(
        "longhorn",
        LonghornRule,
        description="Longhorn: per-entry online regression, M ⊙ (1 − ε (k ⊙ k)ᵀ) + (ε ⊙ v) kᵀ "
        "(parallel: a scan per entry)",
    )
    register(
        "momentum-delta",
        MomentumDeltaRule,
        description="Momentum delta (Titans): P ← μ P + lr·(v − M k) kᵀ, M ← α M + P "
        "(parallel: one triangular solve)",
    )
