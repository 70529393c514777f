"""What the generator needs of a third-party painter and refiner (docs/design.md §4).

Both are ``torch.nn.Module`` subclasses built by their plugin's factory; these protocols name
the rest. Rules subclass :class:`fpa.LearningRule` and discriminators
:class:`fpa.discriminators.Discriminator`, whose base classes state their contracts.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

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
