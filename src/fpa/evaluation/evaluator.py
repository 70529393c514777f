"""Score a generator against a dataset: real features from the cache, generated ones fresh.

Real and generated images take the same path to the extractor: the dataset is built at the
generator's resolution and channels (exactly as training read it), both arrive as float
tensors in [-1, 1], and the extractor converts both in one function
(:meth:`fpa.features.FeatureExtractor.convert`). Nothing is written to or read from image
files on the way.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch

from fpa.errors import ConfigError
from fpa.evaluation.metrics import FeatureStats, scores
from fpa.evaluation.real_stats import SUBSET_SEED, RealStats, real_stats, stats_key
from fpa.evaluation.sampling import seeded_images
from fpa.features.base import FeatureExtractor, build_features, default_features
from fpa.limits import MIN_EVAL_IMAGES, check_eval_images
from fpa.runs.config import EVAL_METRICS, GeneratorModule, TrainConfig

# The metric names, as the training config validates them (one home: fpa.runs.config).
METRICS = EVAL_METRICS
# Below this many images FID and KID are too noisy to mean anything; refuse rather than mislead.
MIN_IMAGES = MIN_EVAL_IMAGES
Progress = Callable[[str, int, int], None]


def no_progress(stage: str, done: int, total: int) -> None:
    """The default progress callback: report nothing."""


@dataclass
class EvaluationResult:
    """Scores of one generator, with what they were measured against."""

    scores: dict[str, float]
    features: str
    data: str
    n_generated: int
    n_real: int
    real_stats: str
    checkpoint: str = ""
    step: int | None = None
    classes: dict[str, Any] | None = None
    # ψ of the generated latents (fpa.latents); 1 when they were used as drawn.
    truncation: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_metrics(metrics: tuple[str, ...] | list[str] | str) -> tuple[str, ...]:
    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise ConfigError(
            f"--metrics takes a comma list of {', '.join(METRICS)}; got {','.join(metrics)!r}"
        )
    return tuple(dict.fromkeys(metrics))


def build_extractor(
    name: str | None, *, data: str, inception_weights: str | None, download: bool
) -> tuple[str, FeatureExtractor]:
    """The extractor ``name`` (default: the one registered for ``data``), with the Inception
    weights options passed only to extractors that take them."""
    name = name or default_features(data)
    options: dict[str, Any] = {}
    if name == "inception":
        options = {"weights": inception_weights, "download": download}
    elif inception_weights:
        raise ConfigError(f"--inception-weights applies to --features inception, not {name!r}")
    return name, build_features(name, **options)


class Evaluator:
    """FID/KID of generators against one dataset, with one extractor; the real statistics are
    computed (or read from the cache) once, when the evaluator is made."""

    def __init__(
        self,
        *,
        data: str,
        image_size: tuple[int, int],
        channels: int,
        n: int,
        metrics: tuple[str, ...] = METRICS,
        features: str | None = None,
        data_root: str | None = None,
        download: bool = False,
        inception_weights: str | None = None,
        device: torch.device | str = "cpu",
        batch_size: int = 200,
        use_cache: bool = True,
        progress: Progress = no_progress,
    ) -> None:
        from fpa.data import build_dataset

        check_eval_images(n)
        if batch_size < 1:
            raise ConfigError(f"batch size must be at least 1; got {batch_size}")
        self.metrics = check_metrics(metrics)
        self.n, self.batch_size, self.progress = n, batch_size, progress
        self.device = torch.device(device)
        self.image_size: tuple[int, int] = (int(image_size[0]), int(image_size[1]))
        self.channels, self.data = channels, str(data)
        # Built with the global random stream forked: making an evaluator (whose networks draw
        # their initial weights before loading the real ones) must not change what a training
        # run draws next, or a resumed run with --eval-every would differ from a straight one.
        with torch.random.fork_rng(devices=[]):
            self.features_name, extractor = build_extractor(
                features, data=self.data, inception_weights=inception_weights, download=download
            )
            self.extractor = extractor.to(self.device).eval()
            dataset = build_dataset(
                self.data,
                image_size=self.image_size,
                channels=channels,
                root=data_root,
                download=download,
            )
            self.dataset = dataset
            self.real = self._real_stats(dataset, use_cache=use_cache)

    @classmethod
    def for_config(cls, config: TrainConfig, *, device: torch.device | str) -> Evaluator:
        """The evaluator a training run uses (``--eval-every``): its data, ``eval_n`` and
        ``eval_features``, cached like any other evaluation."""
        return cls(
            data=config.data,
            image_size=config.image_size,
            channels=config.channels,
            n=config.eval_n,
            metrics=config.eval_metrics,
            features=config.eval_features or None,
            data_root=config.data_root or None,
            download=config.download,
            device=device,
        )

    def _real_stats(self, dataset, *, use_cache: bool) -> RealStats:
        available = len(dataset)
        count = min(self.n, available)
        if count < MIN_IMAGES:
            raise ConfigError(
                f"{self.data} has only {available} images; FID/KID need at least {MIN_IMAGES}"
            )
        if count < self.n:
            warnings.warn(
                f"{self.data} has {available} images, fewer than --n {self.n}: the real "
                f"statistics use all {available}",
                stacklevel=3,
            )
        key = stats_key(
            data=self.data,
            image_size=self.image_size,
            channels=self.channels,
            features=self.extractor.fingerprint(),
            count=count,
        )
        chosen = self.real_subset(count)

        def compute() -> torch.Tensor:
            chunks = []
            for start in range(0, count, self.batch_size):
                index = chosen[start : start + self.batch_size].tolist()
                images = torch.stack([dataset[i] for i in index]).to(self.device)
                chunks.append(self.extractor(images).cpu())
                self.progress("real", min(start + self.batch_size, count), count)
            return torch.cat(chunks)

        width = getattr(self.extractor, "feature_dim", None)
        return real_stats(
            key, compute, use_cache=use_cache, width=width if isinstance(width, int) else None
        )

    def real_subset(self, count: int | None = None) -> torch.Tensor:
        """The indices of the real images the statistics are made of (``count`` of them,
        default all the evaluation uses): a fixed random subset, the same for every run."""
        available = len(self.dataset)
        count = min(self.n, available) if count is None else count
        chosen = torch.randperm(available, generator=torch.Generator().manual_seed(SUBSET_SEED))
        return chosen[:count]

    def features_of(self, images: torch.Tensor, *, stage: str) -> torch.Tensor:
        """Features of ``images (N, C, H, W)`` in [-1, 1], a batch at a time."""
        chunks = []
        for start in range(0, len(images), self.batch_size):
            batch = images[start : start + self.batch_size].to(self.device)
            chunks.append(self.extractor(batch).cpu())
            self.progress(stage, min(start + self.batch_size, len(images)), len(images))
        return torch.cat(chunks)

    def generated_features(
        self, generator: GeneratorModule, *, seed: int = 0, truncation: float = 1.0
    ) -> torch.Tensor:
        """Features of ``n`` images from seeded latents (truncated by ψ = ``truncation``);
        the generator's mode is restored."""
        expected = (self.channels, *self.image_size)
        chunks, done = [], 0
        batches = seeded_images(
            generator, n=self.n, batch_size=self.batch_size, seed=seed, truncation=truncation
        )
        for images in batches:
            if tuple(images.shape[1:]) != expected:
                raise ConfigError(
                    f"the generator paints {tuple(images.shape[1:])} (C, H, W) images but "
                    f"the data is {expected}"
                )
            chunks.append(self.extractor(images).cpu())
            done += len(images)
            self.progress("generated", done, self.n)
        return torch.cat(chunks)

    def score(
        self, generator: GeneratorModule, *, seed: int = 0, truncation: float = 1.0
    ) -> dict[str, float]:
        """The metrics of ``generator`` (lower is better for both)."""
        fake = FeatureStats.of(self.generated_features(generator, seed=seed, truncation=truncation))
        return scores(self.real.stats, fake, self.metrics)

    def result(
        self, generator: GeneratorModule, *, seed: int = 0, truncation: float = 1.0, **about: Any
    ) -> EvaluationResult:
        return EvaluationResult(
            scores=self.score(generator, seed=seed, truncation=truncation),
            features=self.features_name,
            data=self.data,
            n_generated=self.n,
            n_real=self.real.stats.count,
            real_stats=self.real.origin,
            truncation=truncation,
            **about,
        )
