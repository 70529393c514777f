"""Images from seeded latents, in batches: what every score of a generator starts from."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from fpa.classes import labels_args, sample_labels
from fpa.latents import check_truncation, truncate
from fpa.limits import check_seed
from fpa.runs.config import GeneratorModule


def labels_for(generator: GeneratorModule, n: int, random: torch.Generator) -> torch.Tensor | None:
    """``n`` labels drawn from a conditional generator's class shares of its data (so its FID
    compares like with like); None, drawing nothing, for an unconditional one."""
    # Any module that samples like a generator is scored; only a conditional one has these.
    frequencies = getattr(getattr(generator, "config", None), "class_frequencies", ())
    return sample_labels(frequencies, n, generator=random) if frequencies else None


@torch.no_grad()
def seeded_images(
    generator: GeneratorModule, *, n: int, batch_size: int, seed: int, truncation: float = 1.0
) -> Iterator[torch.Tensor]:
    """``n`` images in batches of at most ``batch_size``, as float, from standard normal
    latents drawn with ``seed`` and pulled towards their mean by ``truncation`` ψ (1: as
    drawn); the generator runs in eval mode and gets its mode back."""
    check_seed(seed)
    check_truncation(truncation)
    device = next(generator.parameters()).device
    latents = torch.Generator().manual_seed(seed)
    was_training = generator.training
    generator.eval()
    try:
        for start in range(0, n, batch_size):
            size = min(batch_size, n - start)
            z = truncate(torch.randn(size, generator.latent_dim, generator=latents), truncation)
            yield generator(
                z.to(device), *labels_args(labels_for(generator, size, latents))
            ).float()
    finally:
        generator.train(was_training)
