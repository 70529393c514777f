"""fpa: fast weight painters.

Image generators that paint each colour channel as the weight matrix of a linear layer, one
rank-1 update per step, written by a synaptic learning rule that a controller network drives
(Irie & Schmidhuber, "Images as Weight Matrices", ICLR 2023).

The public API: :func:`available`, :func:`build_rule`, :func:`build_generator`,
:class:`LearningRule`, :class:`Command`, :data:`hookimpl`, and :func:`train`, :func:`evaluate`,
:func:`ablate`, :func:`load`, :func:`export`, :func:`decompose`, :func:`project`,
:func:`ceiling` (the real functions of fpa.training, fpa.evaluation, fpa.ablation,
fpa.models.loading, fpa.exporting, fpa.decomposition and fpa.projection, imported on first
use). Importing fpa loads torch but nothing heavier (no torchvision, no datasets). Painters
and refiners follow the protocols of :mod:`fpa.protocols`.
"""

import importlib
from typing import TYPE_CHECKING, Any

from fpa._version import __version__
from fpa.commands import Command
from fpa.errors import ConfigError, FpaError, PluginConflictError, UnknownComponentError
from fpa.features.base import build_features
from fpa.generator import FastWeightPainter, GeneratorConfig, PaintTrace, build_generator
from fpa.plugins import (
    available,
    build_discriminator,
    build_painter,
    build_refiner,
    build_rule,
    get_plugin_manager,
    hookimpl,
    registry,
)
from fpa.protocols import Painter, Refiner
from fpa.rules.base import LearningRule

# The high-level calls, imported on first use so that ``import fpa`` stays light: each name is
# the real function, with its own signature and docstring.
LAZY_FUNCTIONS = {
    "train": ("fpa.training", "train"),
    "evaluate": ("fpa.evaluation", "evaluate"),
    "ablate": ("fpa.ablation", "ablate"),
    "load": ("fpa.models.loading", "load"),
    "export": ("fpa.exporting", "export"),
    "decompose": ("fpa.decomposition", "decompose"),
    "project": ("fpa.projection", "project_images"),
    "ceiling": ("fpa.evaluation", "ceiling"),
}

if TYPE_CHECKING:
    from fpa.ablation import ablate
    from fpa.decomposition import decompose
    from fpa.evaluation import ceiling, evaluate
    from fpa.exporting import export
    from fpa.models.loading import load
    from fpa.projection import project_images as project
    from fpa.training import train


def __getattr__(name: str) -> Any:
    if name not in LAZY_FUNCTIONS:
        raise AttributeError(f"module 'fpa' has no attribute {name!r}")
    module, attribute = LAZY_FUNCTIONS[name]
    function = getattr(importlib.import_module(module), attribute)
    globals()[name] = function
    return function


__all__ = [
    "Command",
    "ConfigError",
    "FastWeightPainter",
    "FpaError",
    "GeneratorConfig",
    "LearningRule",
    "PaintTrace",
    "Painter",
    "PluginConflictError",
    "Refiner",
    "UnknownComponentError",
    "__version__",
    "ablate",
    "available",
    "build_discriminator",
    "build_features",
    "build_generator",
    "build_painter",
    "build_refiner",
    "build_rule",
    "ceiling",
    "decompose",
    "evaluate",
    "export",
    "get_plugin_manager",
    "hookimpl",
    "load",
    "project",
    "registry",
    "train",
]
