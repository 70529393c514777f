"""Conventional generators, for comparison with painters in the same harness.

A baseline is not a painter: it has no rule, no steps, nothing to watch being painted. It is
registered like every other component (hook ``fpa_register_baselines``) and trained with
``fpa train --baseline conv``, against the same discriminator, loop, budget and metric.
"""

from fpa.baselines.conv import ConvGenerator
from fpa.baselines.generator import BaselineConfig, BaselineGenerator
from fpa.plugins import hookimpl

__all__ = ["BaselineConfig", "BaselineGenerator", "ConvGenerator"]


@hookimpl
def fpa_register_baselines(register):
    register(
        "conv",
        ConvGenerator,
        description="Baseline, not a painter: DCGAN-style convolutional generator",
    )
