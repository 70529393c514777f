"""``fpa.evaluate``: FID/KID of a trained run or checkpoint, as ``fpa evaluate`` computes it."""

from __future__ import annotations

from pathlib import Path

import torch

from fpa.devices import resolve_device
from fpa.errors import ConfigError
from fpa.evaluation.classes import class_histogram
from fpa.evaluation.evaluator import (
    METRICS,
    EvaluationResult,
    Evaluator,
    Progress,
    check_metrics,
    no_progress,
)
from fpa.latents import check_truncation
from fpa.models.loading import open_model


def evaluate(
    source: str | Path,
    *,
    data: str | None = None,
    metrics: tuple[str, ...] | str = METRICS,
    n: int = 10_000,
    features: str | None = None,
    inception_weights: str | None = None,
    data_root: str | None = None,
    download: bool = False,
    batch_size: int = 200,
    device: str = "auto",
    seed: int = 0,
    ema: bool = True,
    use_cache: bool = True,
    classes: bool = False,
    truncation: float = 1.0,
    progress: Progress = no_progress,
) -> EvaluationResult:
    """FID/KID of the generator in ``source``: a run directory, a checkpoint file, a model
    folder or a registered model's name.

    ``data`` defaults to the data the run trained on; ``features`` to the extractor registered
    for that data (``digits`` for mnist, ``emoji`` for emoji, else ``inception``). ``n``
    generated images are compared with ``n`` real ones (all of them when the data has fewer).
    ``classes`` adds the histogram of the classes the generator paints (classifier features,
    such as ``digits``, only) and its entropy. ``truncation`` ψ pulls the generated latents
    towards their mean (:mod:`fpa.latents`; 1 leaves them as drawn).
    """
    check_truncation(truncation)
    target = torch.device(resolve_device(device))
    loaded = open_model(source, ema=ema, device=target)
    generator = loaded.generator
    image_size, channels = generator.config.image_size, generator.config.channels
    data = str(data or loaded.data)
    root = data_root or loaded.data_root
    if data != loaded.data:
        check_data_colours(data, channels, image_size, root=root, download=download)
    evaluator = Evaluator(
        data=data,
        image_size=image_size,
        channels=channels,
        n=n,
        metrics=check_metrics(metrics),
        features=features,
        data_root=root,
        download=download,
        inception_weights=inception_weights,
        device=target,
        batch_size=batch_size,
        use_cache=use_cache,
        progress=progress,
    )
    result = evaluator.result(
        generator,
        seed=seed,
        truncation=truncation,
        checkpoint=str(loaded.origin),
        step=loaded.step,
    )
    if classes:
        histogram = class_histogram(
            generator,
            evaluator.extractor,
            n=n,
            batch_size=batch_size,
            seed=seed,
            truncation=truncation,
        )
        result.classes = {
            "counts": histogram.counts,
            "entropy_bits": histogram.entropy_bits,
            "max_entropy_bits": histogram.max_entropy_bits,
        }
    return result


def check_data_colours(
    data: str, channels: int, image_size: tuple[int, int], *, root: str | None, download: bool
) -> None:
    """Refuse to judge a colour generator by grey data, or a grey one by colour data (the run's
    own training data is always accepted: it was converted the same way for training)."""
    from fpa.data import data_is_grey

    grey = data_is_grey(data, image_size=image_size, root=root, download=download)
    if grey and channels > 1:
        raise ConfigError(
            f"the generator paints {channels}-channel colour images but {data} is grey; "
            "evaluate against colour data"
        )
    if not grey and channels == 1:
        raise ConfigError(
            f"the generator paints grey images but {data} is in colour; evaluate against grey "
            "data or the data the run trained on"
        )
