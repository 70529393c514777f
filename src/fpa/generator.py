"""FastWeightPainter: a painter (controller) + head + learning rule (+ refiner) as one module."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
from einops import rearrange
from torch import Tensor, nn

from fpa.errors import ConfigError
from fpa.painters.head import PaintCommands, PaintHead, activation
from fpa.plugins import build_painter, build_refiner, build_rule

RULE_IMPLS = ("parallel", "step")


def image_hw(image_size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """Normalise an image size given as an int or an (H, W) pair."""
    if isinstance(image_size, int):
        height = width = image_size
    else:
        sizes = tuple(image_size)
        if len(sizes) != 2:
            raise ConfigError(f"image_size must be an int or an (H, W) pair; got {image_size!r}")
        height, width = (int(size) for size in sizes)
    if height < 1 or width < 1:
        raise ConfigError(f"image sides must be positive; got {height}×{width}")
    return height, width


def check_updates_per_step(updates_per_step: int, steps: int, *, steps_name: str) -> None:
    """Refuse U rank-1 updates per controller step unless U ≥ 1 divides the T steps."""
    if updates_per_step < 1 or steps % updates_per_step:
        raise ConfigError(
            f"updates_per_step must divide {steps_name} ({steps}) and be ≥ 1; "
            f"got {updates_per_step}"
        )


@dataclass
class GeneratorConfig:
    """Everything needed to rebuild a generator; round-trips through ``asdict``/checkpoints."""

    rule: str = "delta"
    painter: str = "lstm"
    refiner: str = "identity"
    image_size: tuple[int, int] = (32, 32)
    channels: int = 1
    steps: int = 16
    latent_dim: int = 64
    key_activation: str = "softmax"
    value_activation: str = "none"
    rate_activation: str = "sigmoid"
    output_activation: str = "tanh"
    per_row_rate: bool = False
    learned_canvas: bool = False
    normalize_features: bool = False
    updates_per_step: int = 1
    rule_impl: str = "parallel"
    rule_options: dict[str, Any] = field(default_factory=dict)
    painter_options: dict[str, Any] = field(default_factory=dict)
    refiner_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.image_size = image_hw(self.image_size)
        if self.channels < 1:
            raise ConfigError(f"channels must be at least 1; got {self.channels}")
        if self.steps < 1:
            raise ConfigError(f"steps (rank-1 updates per image) must be ≥ 1; got {self.steps}")
        check_updates_per_step(self.updates_per_step, self.steps, steps_name="steps")
        if self.latent_dim < 1:
            raise ConfigError(f"latent_dim must be ≥ 1; got {self.latent_dim}")
        if self.rule_impl not in RULE_IMPLS:
            raise ConfigError(
                f"rule_impl must be one of {', '.join(RULE_IMPLS)}; got {self.rule_impl!r}"
            )

    @property
    def controller_steps(self) -> int:
        """Steps the controller runs: ``steps / updates_per_step``."""
        return self.steps // self.updates_per_step

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["image_size"] = list(self.image_size)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GeneratorConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown generator config keys: {', '.join(unknown)}")
        return cls(**data)


@dataclass
class PaintTrace:
    """Every step of one painting.

    ``matrices (B, T, C, H, W)``: raw ``M_t`` before the output activation.
    ``updates (B, T, C, H, W)``: raw ``M_t - M_{t-1}``, rank ≤ 1 per channel (``M_0`` is zero,
    or the learned canvas with ``learned_canvas``).
    ``painted (B, C, H, W)``: the image before the refiner; ``images``: what ``G(z)`` returns.
    ``commands``: the keys, values and rates the head emitted.
    """

    matrices: Tensor
    updates: Tensor
    painted: Tensor
    images: Tensor
    commands: PaintCommands


class FastWeightPainter(nn.Module):
    """Paints ``C`` channels of an ``H×W`` image as weight matrices, one rank-1 update per step.

    ``z (B, latent_dim)`` -> controller features ``(B, T/U, hidden)`` -> head -> keys, values,
    rates per channel for T steps (U = ``updates_per_step`` per controller step, 1 by default)
    -> learning rule -> ``M_T (B, C, H, W)`` -> output activation -> refiner.
    """

    def __init__(self, *, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config
        height, width = config.image_size
        self.painter = build_painter(
            config.painter,
            latent_dim=config.latent_dim,
            steps=config.controller_steps,
            **config.painter_options,
        )
        self.head = PaintHead(
            in_features=self.painter.out_features,
            channels=config.channels,
            height=height,
            width=width,
            key_activation=config.key_activation,
            value_activation=config.value_activation,
            rate_activation=config.rate_activation,
            per_row_rate=config.per_row_rate,
            normalize_features=config.normalize_features,
            updates_per_step=config.updates_per_step,
        )
        self.rule = build_rule(config.rule, **config.rule_options)
        self.refiner = build_refiner(
            config.refiner,
            image_size=config.image_size,
            channels=config.channels,
            **config.refiner_options,
        )
        self.output_activation = activation(config.output_activation, "output")
        # A learned starting matrix M_0 per channel: the background the updates paint over.
        # Without it a uniform (softmax) key spreads each write over W columns, so a dark
        # background costs values of order W; with it the rank-1 steps only draw strokes.
        self.canvas = (
            nn.Parameter(torch.zeros(config.channels, height, width))
            if config.learned_canvas
            else None
        )
        self.painter_frozen = False

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def steps(self) -> int:
        return self.config.steps

    def sample_latents(
        self, n: int, *, generator: torch.Generator | None = None, device=None
    ) -> Tensor:
        """Standard normal latents ``(n, latent_dim)`` on the generator's device."""
        device = device if device is not None else next(self.parameters()).device
        return torch.randn(n, self.latent_dim, generator=generator).to(device)

    def commands(self, z: Tensor) -> PaintCommands:
        """The keys, values and rates for every step and channel."""
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ConfigError(
                f"latents must have shape (B, {self.latent_dim}); got {tuple(z.shape)}"
            )
        return self.head(self.painter(z))

    def initial_matrices(self, batch: int) -> Tensor | None:
        """``M_0 (B, C, H, W)``: the learned canvas, or None for zeros."""
        if self.canvas is None:
            return None
        return self.canvas.expand(batch, *self.canvas.shape)

    def _paint(self, commands: PaintCommands, *, return_all: bool) -> Tensor:
        paint = self.rule.paint if self.config.rule_impl == "parallel" else self.rule.paint_by_steps
        initial = self.initial_matrices(commands.keys.shape[0])
        return paint(
            commands.keys, commands.values, commands.rates, initial=initial, return_all=return_all
        )

    def freeze_painter(self) -> None:
        """Train only the refiner: the painting runs without autograd (a stop-gradient) and
        every parameter outside the refiner stops requiring gradients."""
        self.painter_frozen = True
        for name, parameter in self.named_parameters():
            parameter.requires_grad_(name.startswith("refiner."))

    def painter_parameters(self) -> dict[str, Tensor]:
        """Every tensor of the state dict that belongs to the painting, not to the refiner."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("refiner.")}

    def _painted(self, z: Tensor) -> Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.painter_frozen):
            return self.output_activation(self._paint(self.commands(z), return_all=False))

    def forward(self, z: Tensor) -> Tensor:
        return self.refiner(self._painted(z))

    def paint_trace(self, z: Tensor) -> PaintTrace:
        """Paint with every partial matrix kept, for figures and tests."""
        commands = self.commands(z)
        partial = self._paint(commands, return_all=True)
        matrices = rearrange(partial, "batch channel step row col -> batch step channel row col")
        start = self.initial_matrices(matrices.shape[0])
        start = torch.zeros_like(matrices[:, 0]) if start is None else start
        previous = torch.cat([start.unsqueeze(1), matrices[:, :-1]], dim=1)
        painted = self.output_activation(matrices[:, -1])
        return PaintTrace(
            matrices=matrices,
            updates=matrices - previous,
            painted=painted,
            images=self.refiner(painted),
            commands=commands,
        )


def build_generator(
    *,
    rule: str = "delta",
    painter: str = "lstm",
    image_size: int | tuple[int, int] = 32,
    channels: int = 1,
    steps: int = 16,
    latent_dim: int = 64,
    refiner: str = "identity",
    key_activation: str = "softmax",
    value_activation: str = "none",
    rate_activation: str = "sigmoid",
    output_activation: str = "tanh",
    per_row_rate: bool = False,
    learned_canvas: bool = False,
    normalize_features: bool = False,
    updates_per_step: int = 1,
    rule_impl: str = "parallel",
    rule_options: dict[str, Any] | None = None,
    refiner_options: dict[str, Any] | None = None,
    **painter_options: Any,
) -> FastWeightPainter:
    """Compose a fast weight painter from registered components by name.

    Extra keyword arguments go to the painter's factory (e.g. ``hidden_size=512``).
    """
    config = GeneratorConfig(
        rule=rule,
        painter=painter,
        refiner=refiner,
        image_size=image_hw(image_size),
        channels=channels,
        steps=steps,
        latent_dim=latent_dim,
        key_activation=key_activation,
        value_activation=value_activation,
        rate_activation=rate_activation,
        output_activation=output_activation,
        per_row_rate=per_row_rate,
        learned_canvas=learned_canvas,
        normalize_features=normalize_features,
        updates_per_step=updates_per_step,
        rule_impl=rule_impl,
        rule_options=dict(rule_options or {}),
        painter_options=dict(painter_options),
        refiner_options=dict(refiner_options or {}),
    )
    return FastWeightPainter(config=config)
