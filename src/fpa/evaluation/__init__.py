"""Quality measurement: FID/KID against cached real statistics, with pluggable features.

:func:`evaluate` scores a run or checkpoint (what ``fpa evaluate`` does); :class:`Evaluator`
scores generators against one dataset and is what training uses for ``--eval-every``.
"""

from fpa.evaluation.api import evaluate
from fpa.evaluation.classes import CONFIDENT, ClassHistogram, class_histogram, confident_share
from fpa.evaluation.evaluator import METRICS, MIN_IMAGES, EvaluationResult, Evaluator
from fpa.evaluation.metrics import FeatureStats, frechet_distance, kernel_distance
from fpa.evaluation.rank_ceiling import CeilingResult, CeilingRow, ceiling

__all__ = [
    "CONFIDENT",
    "METRICS",
    "MIN_IMAGES",
    "CeilingResult",
    "CeilingRow",
    "ClassHistogram",
    "EvaluationResult",
    "Evaluator",
    "FeatureStats",
    "ceiling",
    "class_histogram",
    "confident_share",
    "evaluate",
    "frechet_distance",
    "kernel_distance",
]
