"""Bounds that fpa checks before it allocates anything, so that an impossible request is one
clear error at once rather than an out-of-memory crash (or a hang) later.

* A seed is a whole number in [0, 2**63 - 1]: torch and NumPy both take it, with room for the
  offsets fpa adds to a seed to derive its other random streams.
* A picture fpa writes (a sample grid, a painting figure, a preview, all the frames of an
  animation together) holds at most :data:`MAX_PICTURE_PIXELS` pixels: Pillow's own limit,
  above which it refuses to open an image as a possible decompression bomb.
* A training run must fit the memory of its device (the GPU's, or the machine's on the CPU);
  :mod:`fpa.runs.checks` checks a whole run's config with the measures here.
* A generator read from a file (a checkpoint's ``generator_config``, a model folder's
  ``config.json``) must fit the memory it is built in before a weight is allocated: its sizes
  are measured by building it on the ``meta`` device, which allocates nothing.
* An evaluation measures at most :data:`MAX_EVAL_IMAGES` images: the features of all of them
  are held at once, and more would take days without changing the score.
* Every check names where the value came from (a flag, a file and its field, an ablation cell).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import torch
from PIL import Image
from torch import nn

from fpa.errors import ConfigError

MAX_SEED = 2**63 - 1
MAX_PICTURE_PIXELS: int = Image.MAX_IMAGE_PIXELS or 89_478_485
FLOAT_BYTES = 4
GIB = 2**30
# Below this many images FID and KID are too noisy to mean anything; above the largest, the
# features held at once and the time taken grow without changing the score.
MIN_EVAL_IMAGES = 100
MAX_EVAL_IMAGES = 1_000_000
# What a training step holds per weight: the weight, its gradient and Adam's two moments.
TRAINING_COPIES = 4


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


def check_memory(need: float, *, what: str, device: Any, advice: str) -> None:
    """Refuse ``need`` bytes that ``what`` would allocate on ``device`` when they are more than
    its memory (or more than any memory: an overflow is ``inf``)."""
    memory = device_memory(str(device))
    if math.isinf(need):
        raise ConfigError(f"{what} would need more memory than any device has; {advice}")
    if memory is None or need <= memory[1]:
        return
    where, have = memory
    raise ConfigError(
        f"{what} would need at least {need / GIB:,.1f} GiB, more than the {have / GIB:,.1f} GiB "
        f"of {where}; {advice}"
    )


def meta_elements(*builds: Callable[[], nn.Module]) -> list[float]:
    """The number of weights (parameters and buffers) of each module ``builds`` make, built on
    the ``meta`` device, which allocates nothing: ``inf`` when PyTorch cannot even size them,
    0 for one that cannot be built there (it is built, and checked, for real)."""
    counts: list[float] = []
    with torch.random.fork_rng(devices=[]):
        for build in builds:
            try:
                with torch.device("meta"):
                    module = build()
                tensors = [*module.parameters(), *module.buffers()]
                counts.append(float(sum(tensor.numel() for tensor in tensors)))
            except RuntimeError as error:
                counts.append(math.inf if "overflow" in str(error) else 0.0)
            except NotImplementedError:
                counts.append(0.0)
    return counts


def generator_sizes(config: Any) -> str:
    """``latent_dim 64, paint_steps 16, image_size 32×32, hidden_size 256``: the settings of a
    generator config that size its weights, for messages that say where a size came from."""
    height, width = config.image_size
    parts = [f"latent_dim {config.latent_dim:,}"]
    if hasattr(config, "paint_steps"):
        parts.append(f"paint_steps {config.paint_steps:,}")
    parts.append(f"image_size {height:,}×{width:,}")
    options = getattr(config, "painter_options", None) or getattr(config, "options", {})
    for key, value in options.items():
        if isinstance(value, int) and not isinstance(value, bool):
            parts.append(f"{key} {value:,}")
    return ", ".join(parts)


def check_generator_memory(config: Any, build: Callable[[], nn.Module], *, device: Any) -> None:
    """Refuse a generator (``config``, made by ``build``) whose weights and the painting of one
    image cannot fit the memory of the machine it is built on, nor of ``device``."""
    (weights,) = meta_elements(build)
    height, width = config.image_size
    steps = getattr(config, "paint_steps", 1)
    painting = config.channels * (height * width + steps * (height + width))
    need = FLOAT_BYTES * (weights + painting)
    for target in dict.fromkeys(("cpu", str(device))):
        check_memory(
            need,
            what=f"a generator of {generator_sizes(config)}",
            device=target,
            advice="it cannot be loaded here",
        )


def check_eval_images(n: int, *, option: str = "--n") -> int:
    """An evaluation of ``n`` images: from :data:`MIN_EVAL_IMAGES` to :data:`MAX_EVAL_IMAGES`."""
    if n < MIN_EVAL_IMAGES:
        raise ConfigError(f"{option} must be at least {MIN_EVAL_IMAGES} for FID/KID; got {n:,}")
    if n > MAX_EVAL_IMAGES:
        raise ConfigError(
            f"{option} must be at most {MAX_EVAL_IMAGES:,} images (their features are held at "
            f"once, and more would take days without changing the score); got {n:,}"
        )
    return n
