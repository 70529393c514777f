"""``fpa.project``: projection into a run, checkpoint, model folder or model name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from fpa.devices import resolve_device
from fpa.errors import ConfigError
from fpa.evaluation.evaluator import build_extractor
from fpa.features.base import FALLBACK, FeatureExtractor, default_features
from fpa.generator import FastWeightPainter
from fpa.models.loading import open_model
from fpa.projection.fit import Projection, project


def project_images(
    source: str | Path | FastWeightPainter,
    images: Tensor,
    *,
    features: str | FeatureExtractor | None = None,
    data: str | None = None,
    device: str = "auto",
    ema: bool = True,
    **options: Any,
) -> Projection:
    """Project ``images (N, C, H, W)`` in [-1, 1] into the painter of ``source`` (a run
    directory, checkpoint, model folder, model name, or a painter itself).

    The feature loss uses ``features`` (an extractor or its name; default: the extractor
    registered for ``data``, which defaults to the data the run trained on: ``digits`` for
    mnist, ``emoji`` for emoji); ``feature_weight=0`` leaves features out. ``options`` are
    :class:`fpa.projection.ProjectionConfig`'s fields.
    """
    generator: nn.Module
    if isinstance(source, nn.Module):
        generator, data = source, data or ""
    else:
        loaded = open_model(source, ema=ema, device=torch.device(resolve_device(device)))
        generator, data = loaded.generator, data or loaded.data
    if not isinstance(generator, FastWeightPainter):
        raise ConfigError("projection paints, so it needs a painter, not a baseline generator")
    if generator.classes:
        raise ConfigError(
            "projection takes an unconditional painter; this one paints classes "
            "(docs/design.md §11)"
        )
    extractor = None
    if options.get("feature_weight", 1.0):
        if isinstance(features, FeatureExtractor):
            extractor = features
        elif features is None and not data:
            raise ConfigError("name the feature extractor (features=...) or the data it is for")
        elif features is None and default_features(data) == FALLBACK:
            raise ConfigError(
                f"{data} has no offline feature extractor: name one with --features (digits, "
                "emoji, or inception with its weights) or use pixels only with --feature-weight 0"
            )
        else:
            with torch.random.fork_rng(devices=[]):
                _, extractor = build_extractor(
                    features, data=data, inception_weights=None, download=False
                )
    return project(generator, images, extractor=extractor, **options)
