"""The class projection head of a conditional run's discriminator (Miyato & Koyama 2018).

``D(x, y) = logit(x) + ⟨E[y], φ(x)⟩``: the wrapped discriminator's logit plus the inner product
of a learned class embedding with its features ``φ(x)`` (``DiscriminatorOutput.features``).
Any discriminator that reports ``feature_size`` and returns those features can be wrapped;
one that does not is refused in one line naming it (docs/design.md §11).
"""

from __future__ import annotations

from dataclasses import replace

from einops import einsum
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from fpa.discriminators.output import DiscriminatorOutput
from fpa.errors import ConfigError, PluginContractError


class ProjectionDiscriminator(nn.Module):
    """``forward(images, labels, *, reconstruct=False)``: the wrapped discriminator's output
    with ``⟨E[labels], features⟩`` added to the main logit (the auxiliary logit, if any, stays
    unconditional). The embedding is spectrally normalised, as in Miyato & Koyama."""

    def __init__(self, *, discriminator: nn.Module, classes: int, name: str) -> None:
        super().__init__()
        width = getattr(discriminator, "feature_size", None)
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ConfigError(
                f"discriminator {name!r} cannot judge classes: it has no int feature_size (the "
                "width of the DiscriminatorOutput.features a projection head reads; "
                "docs/design.md §11)"
            )
        self.discriminator, self.name = discriminator, name
        self.embedding = spectral_norm(nn.Embedding(classes, width))

    def __getattr__(self, name: str):
        """The wrapped discriminator's attributes (``image_size``, ``reconstruction_target``)."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("discriminator"), name)

    def forward(
        self, images: Tensor, labels: Tensor, *, reconstruct: bool = False
    ) -> DiscriminatorOutput:
        output = self.discriminator(images, reconstruct=reconstruct)
        if output.features is None or output.features.shape != (len(images), self.feature_size):
            got = None if output.features is None else tuple(output.features.shape)
            raise PluginContractError(
                f"discriminator {self.name!r} returned features {got}; its projection head "
                f"needs (B, {self.feature_size})"
            )
        projection = einsum(
            self.embedding(labels), output.features.to(self.embedding.weight.dtype), "b f, b f -> b"
        )
        return replace(output, logits=output.logits + projection.to(output.logits.dtype))
