"""fpa: fast weight painters.

Image generators that paint each colour channel as the weight matrix of a linear layer, one
rank-1 update per step, written by a synaptic learning rule that a controller network drives
(Irie & Schmidhuber, "Images as Weight Matrices", ICLR 2023).

The public API: :func:`available`, :func:`build_rule`, :func:`build_generator`,
:class:`LearningRule`, :data:`hookimpl`. Importing fpa loads torch but nothing heavier
(no torchvision, no datasets).
"""

from fpa._version import __version__
from fpa.errors import ConfigError, FpaError, PluginConflictError, UnknownComponentError
from fpa.generator import FastWeightPainter, GeneratorConfig, PaintTrace, build_generator
from fpa.plugins import (
    available,
    build_discriminator,
    build_features,
    build_painter,
    build_refiner,
    build_rule,
    get_plugin_manager,
    hookimpl,
    registry,
)
from fpa.rules.base import LearningRule


def load(path, *, ema: bool = True, device: str = "cpu") -> FastWeightPainter:
    """The generator of a run directory or checkpoint file, ready to sample (EMA weights).

    Loading never executes code from the file (``torch.load(weights_only=True)``).
    """
    from fpa.training.checkpoint import load_generator

    return load_generator(path, ema=ema, device=device)


def evaluate(source, **options):
    """FID/KID of a run or checkpoint; see :func:`fpa.evaluation.evaluate`."""
    from fpa.evaluation import evaluate as run_evaluation

    return run_evaluation(source, **options)


def ablate(axes, *, out, **options):
    """Train, score and tabulate a grid of configs; see :func:`fpa.ablation.ablate`."""
    from fpa.ablation import ablate as run_ablation

    return run_ablation(axes, out=out, **options)


def train(config=None, *, out, resume: bool = False, overwrite: bool = False, **changes):
    """Train a fast weight painter as a GAN; see :func:`fpa.training.train`."""
    from fpa.training import train as run_training

    return run_training(config, out=out, resume=resume, overwrite=overwrite, **changes)


__all__ = [
    "ConfigError",
    "FastWeightPainter",
    "FpaError",
    "GeneratorConfig",
    "LearningRule",
    "PaintTrace",
    "PluginConflictError",
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
    "evaluate",
    "get_plugin_manager",
    "hookimpl",
    "load",
    "registry",
    "train",
]
