"""Bounds that fpa checks before it allocates anything, so that an impossible request is one
clear error at once rather than an out-of-memory crash (or a hang) later.

* A seed is a whole number in [0, 2**63 - 1]: torch and NumPy both take it, with room for the
  offsets fpa adds to a seed to derive its other random streams.
* A picture fpa writes (a sample grid, a painting figure, a preview, all the frames of an
  animation together) holds at most :data:`MAX_PICTURE_PIXELS` pixels: Pillow's own limit,
  above which it refuses to open an image as a possible decompression bomb.
* A training run must fit the memory of its device (the GPU's, or the machine's on the CPU):
  one batch of real and one of generated images (or the sample grid's images, if more) must be
  held at once, a lower bound of what a training step needs.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

import torch
from PIL import Image

from fpa.errors import ConfigError

if TYPE_CHECKING:
    from fpa.runs.config import TrainConfig

MAX_SEED = 2**63 - 1
MAX_PICTURE_PIXELS: int = Image.MAX_IMAGE_PIXELS or 89_478_485
FLOAT_BYTES = 4
GIB = 2**30


def check_seed(seed: int, name: str = "--seed") -> int:
    """A seed in [0, 2**63 - 1]."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"{name} must be a whole number from 0 to 2**63 - 1; got {seed!r}")
    return seed


def check_finite(name: str, value: float) -> float:
    """A float that is a number: NaN slips past every comparison (``nan <= 0`` is false)."""
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number; got {value}")
    return value


def check_picture(pixels: int, *, what: str, advice: str) -> None:
    """Refuse a picture of more than :data:`MAX_PICTURE_PIXELS` pixels before painting it."""
    if pixels > MAX_PICTURE_PIXELS:
        raise ConfigError(
            f"{what} would hold {pixels:,} pixels; fpa writes at most {MAX_PICTURE_PIXELS:,} "
            f"per picture (larger ones Pillow refuses to open); {advice}"
        )


def device_memory(device_name: str) -> tuple[str, int] | None:
    """``(description, bytes)`` of the memory a run on ``device_name`` has, when known."""
    from fpa.devices import resolve_device

    try:
        device = resolve_device(device_name)
    except ConfigError:
        return None
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"the GPU cuda:{index}", torch.cuda.get_device_properties(index).total_memory
    if device.type == "cpu":
        try:
            return "this machine", os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):  # not a POSIX system that says
            return None
    return None


def check_training_memory(config: TrainConfig, *, processes: int = 1) -> None:
    """Refuse, before any model or data is allocated, a run whose images alone cannot fit the
    memory of its device: a training step holds a batch of real and one of generated images
    (``batch_size`` over ``processes``), and a sample grid holds ``sample_count`` images."""
    height, width = config.image_size
    per_image = FLOAT_BYTES * config.channels * height * width
    batch = math.ceil(config.batch_size / max(processes, 1))
    images = max(2 * batch, config.sample_count)
    need = per_image * images
    memory = device_memory(config.device)
    if memory is None or need <= memory[1]:
        return
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
    """Everything about a run's config that can be checked without data or memory: it fits
    its device (:func:`check_training_memory`), every component it names is registered, and
    its generator and discriminator build with their options, on the ``meta`` device, which
    allocates nothing. ``fpa ablate`` checks every cell so before the first one trains."""
    from fpa.plugins import registry

    check_training_memory(config, processes=processes)
    current = registry()
    named = dict(config.components())
    for kind, name in named.items():
        current.get(kind, name)
    if config.eval_features:
        current.get("features", config.eval_features)
    try:
        with torch.device("meta"):
            config.build_generator()
            config.build_discriminator()
    except (RuntimeError, NotImplementedError):
        pass  # a component that needs real memory to build: the run builds it for real
