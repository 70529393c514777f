"""Ablations: a grid of configs trained on one budget each, scored and tabulated."""

from fpa.ablation.grid import Cell, expand
from fpa.ablation.runner import AblationResult, ablate

__all__ = ["AblationResult", "Cell", "ablate", "expand"]
