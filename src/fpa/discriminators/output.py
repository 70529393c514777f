"""What every discriminator returns: logits for the GAN losses and an optional reconstruction."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class DiscriminatorOutput:
    """One discriminator pass over a batch.

    ``logits`` (B,) is the main real/fake logit. ``aux_logits`` (B,) is a second logit from an
    auxiliary head (lightgan's low-resolution head), or None for discriminators without one; the
    training loop applies the same GAN loss to it. ``reconstruction`` is the decoder's attempt at
    the input image, present only when the forward pass was asked for it
    (``reconstruct=True``); compare it with ``discriminator.reconstruction_target(real_images)``.
    ``features`` (B, F) are the image's features that a class projection head reads
    (docs/design.md §11), F being the discriminator's ``feature_size``; None for one without.
    """

    logits: Tensor
    aux_logits: Tensor | None = None
    reconstruction: Tensor | None = None
    features: Tensor | None = None
