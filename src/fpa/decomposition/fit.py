"""Decomposition with a rule and no painter: keys, values, rates (and the commands the rule
declares, such as a gate) fitted to one image.

A painter's controller decides the commands from a latent; here they are free parameters,
fitted by gradient descent (Adam) so that the rule's T updates paint the image. The commands
pass through the same activations as a painter's head (``softmax`` keys and so on), so what
is fitted is what a head could emit. Each image and each channel is fitted on its own (the
loss is a sum over images of each one's relative squared error, and Adam is per parameter),
so decomposing several images at once gives each the decomposition it gets alone.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from einops import rearrange
from torch import Tensor

from fpa.commands import Command
from fpa.config_checks import check_field_types
from fpa.decomposition.svd import relative_error, svd_errors, svd_truncation
from fpa.errors import ConfigError
from fpa.generator import PaintTrace
from fpa.painters.head import PaintCommands, activation
from fpa.plugins import build_rule


@dataclass(kw_only=True)
class DecompositionConfig:
    """What is fitted and how: the rule and its T steps, the head's activations, Adam."""

    rule: str = "delta"
    steps: int = 16
    key_activation: str = "softmax"
    value_activation: str = "none"
    rate_activation: str = "softplus"
    # "none" paints M_T itself, the case the truncated SVD bounds; "tanh" paints like a painter.
    output_activation: str = "none"
    per_row_rate: bool = False
    iterations: int = 1000
    lr: float = 0.05
    seed: int = 0
    rule_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.steps < 1:
            raise ConfigError(f"steps (rank-1 updates) must be at least 1; got {self.steps}")
        if self.iterations < 1:
            raise ConfigError(f"iterations must be at least 1; got {self.iterations}")
        if not math.isfinite(self.lr) or self.lr <= 0:
            raise ConfigError(f"lr must be a positive number; got {self.lr}")
        for role in ("key", "value", "rate", "output"):
            activation(getattr(self, f"{role}_activation"), role)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(kw_only=True)
class Decomposition:
    """The fitted commands and their painting of ``target (N, C, H, W)``.

    ``trace``: every partial matrix and update, as a generator's :class:`PaintTrace` (so the
    painting figure and animation are drawn the same way). ``error (N,)``: the relative
    Frobenius error of the painting; ``svd_error (N,)``: that of the truncated SVD of rank T,
    a lower bound for ``output_activation = "none"``; ``errors_by_step``, ``svd_by_step``
    ``(N, T)``: the same after each step t (the partial painting, and rank t).
    """

    config: DecompositionConfig
    target: Tensor
    commands: PaintCommands
    trace: PaintTrace
    error: Tensor
    svd_error: Tensor
    errors_by_step: Tensor
    svd_by_step: Tensor
    losses: list[float]

    def to_pixels(self, matrices: Tensor) -> Tensor:
        """Raw matrices to pixels, by the fitted output activation."""
        return activation(self.config.output_activation, "output")(matrices)

    def svd(self) -> Tensor:
        """The truncated SVD of rank T of the target, the Eckart–Young comparison."""
        return svd_truncation(self.target, self.config.steps)

    def summary(self) -> dict[str, Any]:
        """What ``fpa decompose`` writes as ``decomposition.json``: the config and the errors."""
        return {
            "config": self.config.to_dict(),
            "error": self.error.tolist(),
            "svd_error": self.svd_error.tolist(),
            "errors_by_step": self.errors_by_step.tolist(),
            "svd_by_step": self.svd_by_step.tolist(),
            "final_loss": self.losses[-1],
        }


class Commands(torch.nn.Module):
    """The free parameters: pre-activation keys, values, rates and the rule's declared
    commands ``(N, C, T, ·)``; each declared command starts at its ``initial_bias``, as a
    painter's head starts it."""

    def __init__(
        self,
        *,
        shape: tuple[int, int, int, int],
        config: DecompositionConfig,
        declared: tuple[Command, ...] = (),
    ) -> None:
        super().__init__()
        count, channels, height, width = shape
        self.config = config
        draw = torch.Generator().manual_seed(config.seed)
        steps, rate_size = config.steps, height if config.per_row_rate else 1

        def normal(*size: int, std: float) -> torch.nn.Parameter:
            # One draw for every image: each starts from the commands it would start from alone.
            start = torch.randn(*size, generator=draw, dtype=torch.float64) * std
            return torch.nn.Parameter(start.expand(count, *size).clone())

        self.keys = normal(channels, steps, width, std=1.0 / math.sqrt(width))
        self.values = normal(channels, steps, height, std=0.1)
        self.rates = torch.nn.Parameter(torch.zeros(count, channels, steps, rate_size).double())
        self.declared = declared
        self.extra = torch.nn.ParameterDict(
            {
                command.name: torch.full(
                    (count, channels, steps, command.width(height=height, width=width)),
                    command.initial_bias,
                    dtype=torch.float64,
                )
                for command in declared
            }
        )

    def forward(self) -> PaintCommands:
        config = self.config
        return PaintCommands(
            keys=activation(config.key_activation, "key")(self.keys),
            values=activation(config.value_activation, "value")(self.values),
            rates=activation(config.rate_activation, "rate")(self.rates),
            extra={
                command.name: activation(command.activation, command.name)(self.extra[command.name])
                for command in self.declared
            },
        )


def decompose(images: Tensor, **options: Any) -> Decomposition:
    """Fit a rule's T rank-1 updates to each image of ``images (N, C, H, W)`` (or one image
    ``(C, H, W)``) in ``[-1, 1]``; ``options`` are :class:`DecompositionConfig`'s fields.

    The fit runs in float64 on the CPU (the problems are small; the triangular solves of
    delta and oja stay accurate), from seeded random commands, with Adam and a cosine decay
    of its learning rate to zero.
    """
    config = DecompositionConfig(**options)
    target = check_images(images)
    rule = build_rule(config.rule, **config.rule_options)
    to_pixels = activation(config.output_activation, "output")
    count, channels, height, width = target.shape
    commands = Commands(
        shape=(count, channels, height, width), config=config, declared=tuple(rule.commands)
    )
    optimiser = torch.optim.Adam(commands.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.iterations)
    scale = target.flatten(1).square().sum(dim=1).clamp_min(1e-30)
    losses = []
    for _ in range(config.iterations):
        optimiser.zero_grad(set_to_none=True)
        emitted = commands()
        painted = to_pixels(
            rule.paint(emitted.keys, emitted.values, emitted.rates, **emitted.extra)
        )
        loss = ((painted - target).flatten(1).square().sum(dim=1) / scale).sum()
        if not torch.isfinite(loss):
            raise ConfigError(
                f"the {config.rule} decomposition diverged (loss {loss.item()}); "
                "lower lr or use bounded activations"
            )
        loss.backward()
        optimiser.step()
        schedule.step()
        losses.append(loss.item())
    with torch.no_grad():
        emitted = commands()
        trace = commands_trace(
            rule.paint(
                emitted.keys, emitted.values, emitted.rates, return_all=True, **emitted.extra
            ),
            to_pixels,
            emitted,
        )
    partial = rearrange(trace.matrices, "image step channel row col -> step image channel row col")
    by_step = torch.stack([relative_error(to_pixels(m), target) for m in partial], dim=1)
    ranks = list(range(1, config.steps + 1))
    svd_by_step = svd_errors(target, ranks)
    return Decomposition(
        config=config,
        target=target.float(),
        commands=emitted.apply(Tensor.float),
        trace=trace,
        error=by_step[:, -1].float(),
        svd_error=svd_by_step[:, -1].float(),
        errors_by_step=by_step.float(),
        svd_by_step=svd_by_step.float(),
        losses=losses,
    )


def commands_trace(partial: Tensor, to_pixels, commands: PaintCommands) -> PaintTrace:
    """A :class:`PaintTrace` of the painting ``partial (N, C, T, H, W)`` from ``M_0 = 0``."""
    matrices = rearrange(partial, "image channel step row col -> image step channel row col")
    previous = torch.cat([torch.zeros_like(matrices[:, :1]), matrices[:, :-1]], dim=1)
    painted = to_pixels(matrices[:, -1])
    return PaintTrace(
        matrices=matrices.float(),
        updates=(matrices - previous).float(),
        painted=painted.float(),
        images=painted.float(),
        commands=commands,
    )


def check_images(images: Tensor) -> Tensor:
    """``images`` as float64 ``(N, C, H, W)``; anything else is one readable error."""
    if not isinstance(images, Tensor) or not images.is_floating_point():
        raise ConfigError("decompose takes a float tensor of images (N, C, H, W) in [-1, 1]")
    if images.dim() == 3:
        images = images.unsqueeze(0)
    if images.dim() != 4 or min(images.shape) < 1:
        raise ConfigError(f"decompose takes images (N, C, H, W); got {tuple(images.shape)}")
    if not torch.isfinite(images).all():
        raise ConfigError("the images to decompose hold NaN or infinite pixels")
    return images.detach().double().cpu()
