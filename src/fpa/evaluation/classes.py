"""Which classes a generator paints: the histogram of a classifier's predictions.

A generator that covers the data paints every class about equally often; a collapsed one
paints a few. The entropy of the histogram (in bits) summarises it: log2(10) ≈ 3.32 for ten
equally likely digits, 0 for a single one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from fpa.errors import ConfigError
from fpa.evaluation.sampling import seeded_images
from fpa.runs.config import GeneratorModule


@dataclass(frozen=True)
class ClassHistogram:
    """How many of ``n`` samples the classifier assigned to each class."""

    counts: list[int]

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def entropy_bits(self) -> float:
        shares = [count / self.total for count in self.counts if count]
        return -sum(share * math.log2(share) for share in shares)

    @property
    def max_entropy_bits(self) -> float:
        return math.log2(len(self.counts))


# A painting is read confidently when the classifier gives its top class at least this
# probability: more than all the other classes together. (The offline classifiers were trained
# with label smoothing 0.1, so they rarely go beyond 0.91: only 64 % of the embedded real digits
# reach 0.9, while 98.8 % reach 0.5.)
CONFIDENT = 0.5


@runtime_checkable
class Classifier(Protocol):
    """A feature extractor that also classifies (the offline ``digits`` net does)."""

    num_classes: int

    def logits(self, images: Tensor) -> Tensor: ...


@torch.no_grad()
def class_histogram(
    generator: GeneratorModule,
    classifier: nn.Module,
    *,
    n: int = 2000,
    batch_size: int = 200,
    seed: int = 0,
    truncation: float = 1.0,
) -> ClassHistogram:
    """Classify ``n`` samples from seeded latents (truncated by ψ = ``truncation``) with
    ``classifier.logits``."""
    if not isinstance(classifier, Classifier):
        raise ConfigError("class histograms need a classifier feature extractor, e.g. digits")
    predicted = [
        classifier.logits(images).argmax(dim=1).cpu()
        for images in seeded_images(
            generator, n=n, batch_size=batch_size, seed=seed, truncation=truncation
        )
    ]
    counts = torch.bincount(torch.cat(predicted), minlength=classifier.num_classes)
    return ClassHistogram(counts=counts.tolist())


@torch.no_grad()
def confident_share(
    generator: GeneratorModule,
    classifier: nn.Module,
    *,
    n: int = 1000,
    batch_size: int = 200,
    seed: int = 0,
    threshold: float = CONFIDENT,
    truncation: float = 1.0,
) -> float:
    """The share of ``n`` samples (seeded latents, truncated by ψ = ``truncation``) whose top
    class the classifier gives a probability of at least ``threshold``: how many paintings it
    reads as a clear class."""
    if not isinstance(classifier, Classifier):
        raise ConfigError("confidence needs a classifier feature extractor, e.g. digits")
    confident = sum(
        int((classifier.logits(images).softmax(dim=1).amax(dim=1) >= threshold).sum())
        for images in seeded_images(
            generator, n=n, batch_size=batch_size, seed=seed, truncation=truncation
        )
    )
    return confident / n
