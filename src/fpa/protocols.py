"""What the generator needs of a third-party painter and refiner (docs/design.md §4), and
what a run needs of a logger (§8).

Both are ``torch.nn.Module`` subclasses built by their plugin's factory; these protocols name
the rest. Rules subclass :class:`fpa.LearningRule` and discriminators
:class:`fpa.discriminators.Discriminator`, whose base classes state their contracts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import numpy as np
from torch import Tensor


@runtime_checkable
class Painter(Protocol):
    """A controller: built as ``factory(latent_dim=..., steps=T/U, **painter_options)``.

    ``out_features`` is the width F of its features, which the head is built for. Called on
    latents ``(B, latent_dim)`` it returns features ``(B, steps, out_features)``; each sample's
    features depend on its own latent only. Its parameters are the ``painter.`` ones of the
    generator (``--freeze-painter`` stops them, ``--init-from`` copies them).
    """

    out_features: int

    def __call__(self, latents: Tensor) -> Tensor: ...


@runtime_checkable
class Refiner(Protocol):
    """One pass over the painted image: built as ``factory(image_size=(H, W), channels=C,
    **refiner_options)``; called on images ``(B, C, H, W)`` in [-1, 1] (after the output
    activation) it returns images of the same shape in [-1, 1]. It may have no parameters
    (``identity``); its parameters are the only ones trained with ``--freeze-painter``."""

    def __call__(self, images: Tensor) -> Tensor: ...


@runtime_checkable
class RunLogger(Protocol):
    """Where a run's numbers and pictures go besides ``metrics.jsonl``: built on rank 0 as
    ``factory(folder=RUN/logs/NAME, config=TrainConfig.to_dict(), step=S)``, S being the step
    the run starts or resumes at (what was logged after S is logged again: a logger drops its
    own records past S, or ignores the repeats).

    Tags are ``group/name`` (``train/loss_d``, ``eval/fid``, ``samples/ema``,
    ``painter/rates``). The trainer calls these from its loop; an exception from any of them
    switches that logger off with one warning, and the run goes on.
    """

    def log_scalars(self, step: int, scalars: Mapping[str, float]) -> None: ...

    def log_image(self, step: int, tag: str, png: bytes) -> None: ...

    def log_histograms(self, step: int, values: Mapping[str, np.ndarray]) -> None: ...

    def close(self) -> None: ...
