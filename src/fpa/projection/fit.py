"""Projection of real images: the latent (and optionally the commands) a painter would paint
each image from, found by gradient descent.

The loss of a painting x̂ of an image x is the pixel loss ``mean((x̂ − x)²)`` plus
``feature_weight`` times the squared distance of their features from an offline extractor
(``fpa.features``), relative to that of the image's own, ``‖f(x̂) − f(x)‖² / ‖f(x)‖²``: the
pixels make the strokes land where the image's are, the features keep the digit a digit.
The search starts from the best of ``candidates`` seeded latents, then runs Adam on the
latent. ``refine_steps`` then goes beyond what the painter's latents reach: it optimises the
controller's features of every step, which the head turns into the keys, values and rates,
so the refined commands keep the head's activations and stroke layout.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from fpa.errors import ConfigError
from fpa.features.base import FeatureExtractor
from fpa.generator import FastWeightPainter, PaintTrace


@dataclass(kw_only=True)
class ProjectionConfig:
    """How the search runs: its start, its two stages and the weight of the feature loss."""

    steps: int = 300
    lr: float = 0.05
    candidates: int = 256
    feature_weight: float = 1.0
    refine_steps: int = 0
    refine_lr: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "candidates", "refine_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"{name} must be a whole number ≥ 0; got {value!r}")
        if self.candidates < 1:
            raise ConfigError(f"candidates must be at least 1; got {self.candidates}")
        for name in ("lr", "refine_lr", "feature_weight"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"{name} must be a finite number ≥ 0; got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(kw_only=True)
class Projection:
    """Each image ``target (N, C, H, W)`` and its projection: ``latents (N, D)`` (what
    ``fpa paint --latents`` repaints when nothing was refined), ``images``, the ``trace`` of
    the painting, ``psnr (N,)`` in dB (peak to peak 2 in [-1, 1], as 1 in [0, 1]) and
    ``feature_distance (N,)`` (Euclidean, in the extractor's features; None without one)."""

    config: ProjectionConfig
    target: Tensor
    latents: Tensor
    images: Tensor
    trace: PaintTrace
    psnr: Tensor
    feature_distance: Tensor | None
    refined: bool

    def summary(self) -> dict[str, Any]:
        """What ``fpa project`` writes as ``projection.json``."""
        distance = self.feature_distance
        return {
            "config": self.config.to_dict(),
            "refined": self.refined,
            "psnr": self.psnr.tolist(),
            "feature_distance": None if distance is None else distance.tolist(),
        }


def psnr(images: Tensor, target: Tensor) -> Tensor:
    """Peak signal-to-noise ratio in dB per image, for pixels in [-1, 1] (peak to peak 2)."""
    error = (images.double() - target.double()).flatten(1).square().mean(dim=1)
    return 10 * torch.log10(4.0 / error.clamp_min(1e-20))


class Loss:
    """The pixel loss plus the weighted relative feature loss, per image ``(N,)``."""

    def __init__(
        self, target: Tensor, *, extractor: FeatureExtractor | None, feature_weight: float
    ) -> None:
        self.target, self.extractor = target, extractor
        self.weight = feature_weight if extractor is not None else 0.0
        self.target_features = self.features(target).detach() if self.weight else None

    def features(self, images: Tensor) -> Tensor:
        assert self.extractor is not None
        return self.extractor.embed(self.extractor.convert(images)).float()

    def __call__(self, images: Tensor) -> Tensor:
        """The loss of each painting ``images (N, C, H, W)`` against its own image."""
        pixel = (images - self.target).flatten(1).square().mean(dim=1)
        if not self.weight:
            return pixel
        assert self.target_features is not None
        wanted = self.target_features
        distance = (self.features(images) - wanted).square().sum(dim=1)
        return pixel + self.weight * distance / wanted.square().sum(dim=1).clamp_min(1e-12)

    def table(self, paintings: Tensor) -> Tensor:
        """The loss of every painting ``(K, C, H, W)`` against every image: ``(N, K)``."""
        difference = self.target.unsqueeze(1) - paintings.unsqueeze(0)
        pixel = difference.flatten(2).square().mean(dim=2)
        if not self.weight:
            return pixel
        assert self.target_features is not None
        wanted = self.target_features
        distance = torch.cdist(wanted.double(), self.features(paintings).double()).square()
        relative = distance / wanted.double().square().sum(dim=1, keepdim=True).clamp_min(1e-12)
        return pixel + self.weight * relative.float()


def project(
    generator: FastWeightPainter,
    images: Tensor,
    *,
    extractor: FeatureExtractor | None = None,
    **options: Any,
) -> Projection:
    """Project ``images (N, C, H, W)`` in [-1, 1] (or one ``(C, H, W)``) into ``generator``:
    ``options`` are :class:`ProjectionConfig`'s fields; ``extractor`` gives the feature loss
    and distance (none: pixels only). The generator's weights are not changed."""
    config = ProjectionConfig(**options)
    if not isinstance(generator, FastWeightPainter):
        raise ConfigError("projection paints, so it needs a painter, not a baseline generator")
    device = next(generator.parameters()).device
    target = check_images(images, generator).to(device)
    flags = [parameter.requires_grad for parameter in generator.parameters()]
    was_training = generator.training
    generator.eval().requires_grad_(False)
    if extractor is not None:
        extractor = extractor.to(device).eval()
    try:
        loss = Loss(target, extractor=extractor, feature_weight=config.feature_weight)
        latents = best_candidates(generator, loss, config, device=device)
        latents = descend(lambda z: generator(z), latents, loss, config.steps, config.lr)
        features = generator.painter(latents).detach()
        refined = config.refine_steps > 0
        if refined:

            def paint(chosen: Tensor) -> Tensor:
                return generator.paint_commands(generator.head(chosen))

            features = descend(paint, features, loss, config.refine_steps, config.refine_lr)
        with torch.no_grad():
            trace = generator.commands_trace(generator.head(features))
            painted = trace.images
            distance = None
            if extractor is not None:
                distance = (extractor(painted) - extractor(target)).norm(dim=1).float().cpu()
    finally:
        generator.train(was_training)
        for parameter, flag in zip(generator.parameters(), flags, strict=True):
            parameter.requires_grad_(flag)
    return Projection(
        config=config,
        target=target.cpu(),
        latents=latents.detach().cpu(),
        images=painted.float().cpu(),
        trace=trace_on_cpu(trace),
        psnr=psnr(painted, target).float().cpu(),
        feature_distance=distance,
        refined=refined,
    )


@torch.no_grad()
def best_candidates(
    generator: FastWeightPainter, loss: Loss, config: ProjectionConfig, *, device
) -> Tensor:
    """For each image, the one of ``candidates`` seeded latents whose painting is closest."""
    draw = torch.Generator().manual_seed(config.seed)
    candidates = torch.randn(config.candidates, generator.latent_dim, generator=draw).to(device)
    paintings = generator(candidates)
    return candidates[loss.table(paintings).argmin(dim=1)].clone()


def descend(
    paint: Callable[[Tensor], Tensor], start: Tensor, loss: Loss, steps: int, lr: float
) -> Tensor:
    """Adam on ``start`` for ``steps`` steps, with a cosine decay of ``lr`` to zero; returns
    each row's best point seen (so never worse than the start). Each image's loss depends on
    its own row only, so the rows are searched independently."""
    chosen = start.detach().clone().requires_grad_(True)
    best = start.detach().clone()
    best_loss = torch.full((len(start),), math.inf, device=start.device)
    optimiser = torch.optim.Adam([chosen], lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(steps, 1))
    for step in range(steps + 1):
        optimiser.zero_grad(set_to_none=True)
        losses = loss(paint(chosen))
        better = losses.detach() < best_loss
        best[better] = chosen.detach()[better]
        best_loss = torch.where(better, losses.detach(), best_loss)
        if step == steps:
            break
        losses.sum().backward()
        optimiser.step()
        schedule.step()
    return best


def trace_on_cpu(trace: PaintTrace) -> PaintTrace:
    commands = trace.commands
    return PaintTrace(
        matrices=trace.matrices.float().cpu(),
        updates=trace.updates.float().cpu(),
        painted=trace.painted.float().cpu(),
        images=trace.images.float().cpu(),
        commands=commands.apply(Tensor.cpu),
    )


def check_images(images: Tensor, generator: FastWeightPainter) -> Tensor:
    """``images`` as float ``(N, C, H, W)`` of the generator's channels and size."""
    if not isinstance(images, Tensor) or not images.is_floating_point():
        raise ConfigError("project takes a float tensor of images (N, C, H, W) in [-1, 1]")
    if images.dim() == 3:
        images = images.unsqueeze(0)
    expected = (generator.config.channels, *generator.config.image_size)
    if images.dim() != 4 or tuple(images.shape[1:]) != expected or len(images) < 1:
        raise ConfigError(
            f"this painter paints {expected} (C, H, W) images; got {tuple(images.shape)}"
        )
    return images.detach().float()
