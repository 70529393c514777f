"""A baseline generator with the config a run directory needs to rebuild it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from fpa.classes import check_classes, class_embedding, condition, conditional_dict
from fpa.plugins import build
from fpa.sizes import image_hw


@dataclass
class BaselineConfig:
    """Which registered baseline, its options, and the picture it makes."""

    baseline: str
    latent_dim: int
    image_size: tuple[int, int]
    channels: int
    options: dict[str, Any] = field(default_factory=dict)
    # As a painter's (GeneratorConfig): class names and shares, empty when unconditional.
    classes: tuple[str, ...] = ()
    class_frequencies: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        self.image_size = image_hw(self.image_size)
        self.classes = tuple(self.classes)
        self.class_frequencies = tuple(float(f) for f in self.class_frequencies)
        check_classes(self.classes, self.class_frequencies)

    def to_dict(self) -> dict[str, Any]:
        return conditional_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BaselineConfig:
        return cls(**data)


class BaselineGenerator(nn.Module):
    """Wraps a registered baseline network so it samples like a painter: ``G(z)``,
    ``G.latent_dim``, ``G.config`` (that round-trips into checkpoints). It cannot
    ``paint_trace``: it has no painting steps to show."""

    def __init__(self, *, config: BaselineConfig) -> None:
        """A conditional baseline gets the painter's class embedding: ``z + E[y]`` goes in."""
        super().__init__()
        self.config = config
        self.network = build(
            "baselines",
            config.baseline,
            latent_dim=config.latent_dim,
            image_size=config.image_size,
            channels=config.channels,
            **config.options,
        )
        self.class_embedding = class_embedding(config)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def classes(self) -> tuple[str, ...]:
        return self.config.classes

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.network(condition(self.class_embedding, z, labels, names=self.classes))
