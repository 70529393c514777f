"""Latents and images of a trained generator: seeded latents (and a run's fixed ones), and
images from them in batches, what every score and every sample grid starts from."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch

from fpa.classes import chosen_labels, labels_args, sample_labels
from fpa.latent_files import read_latents
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


def seeded_latents(generator: GeneratorModule, n: int, seed: int) -> torch.Tensor:
    """``n`` standard normal latents from ``seed`` (the same on every device)."""
    return torch.randn(n, generator.latent_dim, generator=torch.Generator().manual_seed(seed))


def seeded_or_read(
    generator: GeneratorModule, *, latents: Path | None, n: int, seed: int
) -> torch.Tensor:
    """Latents from a file when one is given, else ``n`` seeded ones."""
    if latents is not None:
        return read_latents(latents, latent_dim=generator.latent_dim)
    return seeded_latents(generator, n, seed)


def run_latents(generator: GeneratorModule, fixed: torch.Tensor | None, n: int) -> torch.Tensor:
    """The first ``n`` of a run's fixed latents, then seeded ones (seed 0) beyond them."""
    seeded = seeded_latents(generator, n, 0)
    if fixed is None:
        return seeded
    kept = fixed[:n]
    return torch.cat([kept, seeded[len(kept) :]])


def per_class_latents(
    generator: GeneratorModule, fixed: torch.Tensor | None, seed: int | None, *, per_class: int
) -> torch.Tensor:
    """``per_class`` latents (the run's fixed ones when ``seed`` is None, else seeded)
    repeated for each class in turn, so that a column of the grid differs only in its class."""
    if seed is None:
        chosen = run_latents(generator, fixed, per_class)
    else:
        chosen = seeded_latents(generator, per_class, seed)
    return chosen.repeat(len(generator.classes), 1)


def grid_latents(
    generator: GeneratorModule,
    *,
    n: int,
    seed: int | None = None,
    latents: Path | None = None,
    fixed: torch.Tensor | None = None,
    wanted: str | None = None,
    per_class: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The latents and labels of a sample grid (``fpa sample``): with ``per_class``, a row
    per class of the same ``per_class`` latents; else those of the file ``latents``, ``n``
    seeded ones, or without a seed a run's ``fixed`` ones then seed 0's; labelled all
    ``wanted`` (a class name or index), or a conditional generator's classes in turn."""
    if per_class is not None:
        z = per_class_latents(generator, fixed, seed, per_class=per_class)
        return z, torch.arange(len(generator.classes)).repeat_interleave(per_class)
    if latents is None and seed is None:
        z = run_latents(generator, fixed, n)
    else:
        z = seeded_or_read(generator, latents=latents, n=n, seed=seed or 0)
    return z, chosen_labels(generator.classes, wanted, len(z))


@torch.no_grad()
def generate(
    generator: GeneratorModule,
    latents: torch.Tensor,
    *,
    labels: torch.Tensor | None = None,
    batch_size: int = 64,
) -> torch.Tensor:
    """The images of ``latents`` (with ``labels`` for a conditional generator), painted
    ``batch_size`` at a time on the generator's device and gathered on the CPU."""
    device = next(generator.parameters()).device
    chunks = latents.split(batch_size)
    label_chunks = [None] * len(chunks) if labels is None else labels.split(batch_size)
    return torch.cat(
        [
            generator(chunk.to(device), *labels_args(chunk_labels)).cpu()
            for chunk, chunk_labels in zip(chunks, label_chunks, strict=True)
        ]
    )
