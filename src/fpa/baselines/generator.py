"""A baseline generator with the config a run directory needs to rebuild it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from torch import Tensor, nn

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

    def __post_init__(self) -> None:
        self.image_size = image_hw(self.image_size)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["image_size"] = list(self.image_size)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BaselineConfig:
        return cls(**data)


class BaselineGenerator(nn.Module):
    """Wraps a registered baseline network so it samples like a painter: ``G(z)``,
    ``G.latent_dim``, ``G.config`` (that round-trips into checkpoints). It cannot
    ``paint_trace``: it has no painting steps to show."""

    def __init__(self, *, config: BaselineConfig) -> None:
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

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def forward(self, z: Tensor) -> Tensor:
        return self.network(z)
