"""Checks of a whole run's config (:class:`~fpa.runs.config.TrainConfig`) that build its
models on the ``meta`` device, which allocates nothing: every component it names is
registered, and a training run fits the memory of its device (the GPU's, or the machine's on
the CPU): one batch of real and one of generated images (or the sample grid's images, if
more) held at once, and the weights, gradients and Adam moments of both networks, a lower
bound of what a training step needs. They live beside the config they check; the measures
they use (:mod:`fpa.limits`) know nothing of it.
"""

from __future__ import annotations

from fpa.errors import ConfigError
from fpa.limits import (
    FLOAT_BYTES,
    GIB,
    TRAINING_COPIES,
    check_eval_images,
    check_memory,
    device_memory,
    generator_sizes,
    meta_elements,
)
from fpa.plugins import registry
from fpa.runs.config import TrainConfig


def check_training_memory(config: TrainConfig, *, processes: int = 1) -> None:
    """Refuse, before any model or data is allocated, a run that cannot fit the memory of its
    device: a training step holds a batch of real and one of generated images (``batch_size``
    over ``processes``), a sample grid holds ``sample_count`` images, and both networks hold
    their weights, gradients and Adam moments (measured on the ``meta`` device)."""
    height, width = config.image_size
    per_image = FLOAT_BYTES * config.channels * height * width
    batch = -(-config.batch_size // max(processes, 1))  # whole numbers: no float rounding
    images = max(2 * batch, config.sample_count)
    need = per_image * images
    memory = device_memory(config.device)
    if memory is not None and need > memory[1]:
        refuse_images(config, need=need, batch=batch, memory=memory)
    generator, discriminator = meta_elements(config.build_generator, config.build_discriminator)
    weights = FLOAT_BYTES * (TRAINING_COPIES * (generator + discriminator) + generator)
    check_memory(
        weights + need,
        what=f"this run's generator ({run_generator_sizes(config)}) and discriminator, "
        "with their gradients, Adam moments and the EMA generator,",
        device=config.device,
        advice="lower --latent-dim, --paint-steps, --image-size or the painter's hidden_size",
    )


def refuse_images(config: TrainConfig, *, need: int, batch: int, memory: tuple[str, int]) -> None:
    """The run's images alone do not fit ``memory``: say which images, and what to lower."""
    height, width = config.image_size
    where, have = memory
    if 2 * batch >= config.sample_count:
        held, advice = f"a batch of {batch} real and {batch} generated", "--batch-size"
    else:
        held, advice = f"a sample grid of {config.sample_count}", "sample_count (--set)"
    raise ConfigError(
        f"this run needs at least {need / GIB:,.1f} GiB to hold {held} "
        f"{config.channels}×{height}×{width} images, more than the {have / GIB:,.1f} GiB of "
        f"{where}; lower --image-size or {advice}"
    )


def check_buildable(config: TrainConfig, *, processes: int = 1) -> None:
    """Everything about a run's config that can be checked without data or memory: every
    component it names is registered, its evaluation options are in bounds, and its generator
    and discriminator build with their options and fit its device
    (:func:`check_training_memory`, on the ``meta`` device, which allocates nothing).
    ``fpa ablate`` checks every cell so before the first one trains."""
    current = registry()
    for kind, name in config.components().items():
        current.get(kind, name)
    if config.eval_features:
        current.get("features", config.eval_features)
    if config.eval_every:
        check_eval_images(config.eval_n, option="eval_n")
    check_training_memory(config, processes=processes)


def run_generator_sizes(config: TrainConfig) -> str:
    """:func:`generator_sizes` of the generator a run trains: its painter, or its baseline."""
    if not config.baseline:
        return generator_sizes(config.generator)
    height, width = config.image_size
    parts = [f"baseline {config.baseline}", f"latent_dim {config.latent_dim:,}"]
    parts.append(f"image_size {height:,}×{width:,}")
    for key, value in config.baseline_options.items():
        if isinstance(value, int) and not isinstance(value, bool):
            parts.append(f"{key} {value:,}")
    return ", ".join(parts)
