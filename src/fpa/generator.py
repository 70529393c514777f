"""FastWeightPainter: a painter (controller) + head + learning rule (+ refiner) as one module."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from einops import rearrange
from torch import Tensor, nn

from fpa.classes import check_classes, class_embedding, condition, conditional_dict
from fpa.config_checks import check_field_types, check_known_keys, choose, field_names
from fpa.errors import ConfigError, PluginContractError
from fpa.latents import truncate
from fpa.painters.colour_basis import ColourBasis, check_colour_basis
from fpa.painters.head import (
    PaintCommands,
    PaintHead,
    StrokeLayout,
    activation,
    check_stroke_basis,
    check_stroke_scale,
)
from fpa.plugins import build_painter, build_refiner, build_rule
from fpa.rules.base import LearningRule
from fpa.sizes import image_hw

RULE_IMPLS = ("parallel", "step")
# Keywords every painter factory receives from the generator, with the setting behind each.
PAINTER_KEYWORDS_SET_BY_THE_GENERATOR = {
    "steps": "paint_steps (T, rank-1 updates per image)",
    "latent_dim": "the generator's latent_dim",
}


def check_updates_per_step(updates_per_step: int, paint_steps: int) -> None:
    """Refuse U rank-1 updates per controller step unless U ≥ 1 divides the T steps."""
    if updates_per_step < 1 or paint_steps % updates_per_step:
        raise ConfigError(
            f"updates_per_step must divide paint_steps ({paint_steps}) and be ≥ 1; "
            f"got {updates_per_step}"
        )


@dataclass
class GeneratorConfig:
    """Every generator setting, in its one home: ``build_generator``'s keywords, the
    ``[generator]`` table of a run's ``config.toml``, ``fpa train``'s flags and ``--set`` keys
    all use these names. Round-trips through :meth:`to_dict` into checkpoints.

    Adding a generator option means adding a field here and using it in the component that
    needs it; the training config, the CLI's ``--set`` and the checkpoints carry it unchanged.
    """

    rule: str = "delta"
    painter: str = "lstm"
    refiner: str = "identity"
    image_size: tuple[int, int] = (32, 32)
    channels: int = 1
    # T: rank-1 updates per image (per channel).
    paint_steps: int = 16
    latent_dim: int = 64
    key_activation: str = "softmax"
    value_activation: str = "none"
    rate_activation: str = "sigmoid"
    output_activation: str = "tanh"
    per_row_rate: bool = False
    learned_canvas: bool = False
    normalize_features: bool = False
    # U: rank-1 updates per controller step; the controller runs T / U steps.
    updates_per_step: int = 1
    # What the channels of one step share: per-channel, shared-key or coloured (painters/head.py).
    strokes: str = "per-channel"
    # s: keys and values are emitted with W/s and H/s entries and linearly stretched to W and H,
    # so every stroke is smooth over s pixels (1: one entry per pixel, the paper's painters).
    stroke_scale: int = 1
    # How keys and values are emitted: pixel (one number per entry) or cosine (coefficients of
    # a damped cosine basis: strokes start smooth; painters/head.py).
    stroke_basis: str = "pixel"
    # The basis the channels are painted in: direct, ycbcr or learned (painters/colour_basis.py).
    colour_basis: str = "direct"
    rule_impl: str = "parallel"
    rule_options: dict[str, Any] = field(default_factory=dict)
    painter_options: dict[str, Any] = field(default_factory=dict)
    refiner_options: dict[str, Any] = field(default_factory=dict)
    # The class names of a conditional generator (empty: unconditional) and each class's share
    # of the training data, from which unlabelled sampling (FID) draws (docs/design.md §11).
    classes: tuple[str, ...] = ()
    class_frequencies: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        self.image_size = image_hw(self.image_size)
        check_field_types(self)
        self.classes = tuple(self.classes)
        self.class_frequencies = tuple(float(f) for f in self.class_frequencies)
        check_classes(self.classes, self.class_frequencies)
        for name in ("rule_options", "painter_options", "refiner_options"):
            setattr(self, name, dict(getattr(self, name)))
        if self.channels < 1:
            raise ConfigError(f"channels must be at least 1; got {self.channels}")
        if self.paint_steps < 1:
            raise ConfigError(
                f"paint_steps (rank-1 updates per image) must be ≥ 1; got {self.paint_steps}"
            )
        check_updates_per_step(self.updates_per_step, self.paint_steps)
        if self.latent_dim < 1:
            raise ConfigError(f"latent_dim must be ≥ 1; got {self.latent_dim}")
        choose("rule_impl", self.rule_impl, RULE_IMPLS)
        StrokeLayout.of(self.strokes, self.channels)
        check_stroke_scale(self.stroke_scale, *self.image_size)
        check_stroke_basis(self.stroke_basis)
        check_colour_basis(self.colour_basis, self.channels)
        # The painter receives these from the generator: as painter options they would clash.
        for reserved, instead in PAINTER_KEYWORDS_SET_BY_THE_GENERATOR.items():
            if reserved in self.painter_options:
                raise ConfigError(
                    f"{reserved!r} is not a painter option: the generator sets it; use {instead}"
                )

    @property
    def controller_steps(self) -> int:
        """Steps the controller runs: ``paint_steps / updates_per_step``."""
        return self.paint_steps // self.updates_per_step

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain data; the class fields only for a conditional generator, so
        an unconditional one's stored config is what it was before classes existed."""
        return conditional_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GeneratorConfig:
        check_known_keys(data, known=field_names(cls), what="generator option")
        return cls(**data)

    @classmethod
    def from_options(cls, **options: Any) -> GeneratorConfig:
        """A config from keywords: the fields by name, any other keyword a painter option
        (``hidden_size=512``), merged over ``painter_options``."""
        names = field_names(cls)
        settings = {key: value for key, value in options.items() if key in names}
        extra = {key: value for key, value in options.items() if key not in names}
        if extra:
            settings["painter_options"] = {**settings.get("painter_options", {}), **extra}
        return cls(**settings)


@dataclass
class PaintTrace:
    """Every step of one painting.

    ``matrices (B, T, C, H, W)``: raw ``M_t`` in the painting's colour basis, before
    :meth:`FastWeightPainter.to_pixels` (the colour mix and the output activation).
    ``updates (B, T, C, H, W)``: raw ``M_t - M_{t-1}``, rank ≤ 1 per channel for rules whose
    steps add (a gated rule also decays ``M_{t-1}``) (``M_0`` is zero, or the learned canvas
    with ``learned_canvas``).
    ``painted (B, C, H, W)``: the image before the refiner; ``images``: what ``G(z)`` returns.
    ``commands``: the keys, values, rates and the rule's extra commands the head emitted.
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
        if not isinstance(self.painter, nn.Module) or not isinstance(
            getattr(self.painter, "out_features", None), int
        ):
            raise ConfigError(
                f"painter {config.painter!r} must be an nn.Module with an int out_features "
                "(the width of its features; docs/design.md §4)"
            )
        # Built before the head, which emits the commands the rule declares (rules hold no
        # parameters, so the order draws no initial weight differently).
        self.rule = build_rule(config.rule, **config.rule_options)
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
            strokes=config.strokes,
            stroke_scale=config.stroke_scale,
            stroke_basis=config.stroke_basis,
            commands=tuple(self.rule.commands),
        )
        self.refiner = build_refiner(
            config.refiner,
            image_size=config.image_size,
            channels=config.channels,
            **config.refiner_options,
        )
        self.colour_basis = ColourBasis(basis=config.colour_basis, channels=config.channels)
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
        # Created last, so that an unconditional painter draws its initial weights as before.
        self.class_embedding = class_embedding(config)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def classes(self) -> tuple[str, ...]:
        """The class names a conditional painter paints (empty: unconditional)."""
        return self.config.classes

    @property
    def rule_impl_used(self) -> str:
        """What paints: ``"parallel"`` when asked for and the rule has a parallel form,
        ``"step"`` (the loop) otherwise. ``config.rule_impl`` keeps what was asked."""
        return rule_impl_used(self.config.rule_impl, self.rule)

    @property
    def paint_steps(self) -> int:
        return self.config.paint_steps

    def sample_latents(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        device=None,
        truncation: float = 1.0,
    ) -> Tensor:
        """Standard normal latents ``(n, latent_dim)`` on the generator's device, pulled
        towards their mean by ``truncation`` ψ (1: unchanged; see :mod:`fpa.latents`)."""
        device = device if device is not None else next(self.parameters()).device
        latents = torch.randn(n, self.latent_dim, generator=generator)
        return truncate(latents, truncation).to(device)

    def commands(self, z: Tensor, labels: Tensor | None = None) -> PaintCommands:
        """The keys, values and rates for every step and channel; a conditional painter needs
        ``labels (B,)`` and paints from ``z + E[labels]``."""
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ConfigError(
                f"latents must have shape (B, {self.latent_dim}); got {tuple(z.shape)}"
            )
        z = condition(self.class_embedding, z, labels, names=self.classes)
        return self.head(self.painter(z))

    def initial_matrices(self, batch: int) -> Tensor | None:
        """``M_0 (B, C, H, W)``: the learned canvas, or None for zeros."""
        if self.canvas is None:
            return None
        return self.canvas.expand(batch, *self.canvas.shape)

    def _paint(self, commands: PaintCommands, *, return_all: bool) -> Tensor:
        paint = self.rule.paint if self.rule_impl_used == "parallel" else self.rule.paint_by_steps
        initial = self.initial_matrices(commands.keys.shape[0])
        painted = paint(
            commands.keys,
            commands.values,
            commands.rates,
            initial=initial,
            return_all=return_all,
            **commands.extra,
        )
        height, width = self.config.image_size
        steps = (self.config.paint_steps,) if return_all else ()
        expected = (*commands.keys.shape[:-2], *steps, height, width)
        if not isinstance(painted, Tensor) or painted.shape != expected:
            raise rule_contract_error(self.config.rule, painted, expected, return_all=return_all)
        return painted

    def freeze_painter(self) -> None:
        """Train only the refiner: the painting runs without autograd (a stop-gradient) and
        every parameter outside the refiner stops requiring gradients."""
        self.painter_frozen = True
        for name, parameter in self.named_parameters():
            parameter.requires_grad_(name.startswith("refiner."))

    def painter_parameters(self) -> dict[str, Tensor]:
        """Every tensor of the state dict that belongs to the painting, not to the refiner."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("refiner.")}

    def to_pixels(self, matrices: Tensor) -> Tensor:
        """Painted matrices ``(..., C, H, W)`` in the painting's colour basis -> pixels: the
        colour mix, then the output activation (the refiner is not applied)."""
        return self.output_activation(self.colour_basis(matrices))

    def _painted(self, z: Tensor, labels: Tensor | None) -> Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.painter_frozen):
            return self.to_pixels(self._paint(self.commands(z, labels), return_all=False))

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """``G(z)``, or ``G(z, labels)`` for a conditional painter."""
        return self.refiner(self._painted(z, labels))

    def paint_commands(self, commands: PaintCommands) -> Tensor:
        """``G(z)`` from the commands the head would emit for z (``commands(z)``): the rule,
        the output activation and the refiner. Projection refines commands through it."""
        return self.refiner(self.to_pixels(self._paint(commands, return_all=False)))

    def paint_trace(self, z: Tensor, labels: Tensor | None = None) -> PaintTrace:
        """Paint with every partial matrix kept, for figures and tests."""
        return self.commands_trace(self.commands(z, labels))

    def commands_trace(self, commands: PaintCommands) -> PaintTrace:
        """:meth:`paint_trace` of given commands (those of ``commands(z)``, or refined ones)."""
        partial = self._paint(commands, return_all=True)
        matrices = rearrange(partial, "batch channel step row col -> batch step channel row col")
        start = self.initial_matrices(matrices.shape[0])
        start = torch.zeros_like(matrices[:, 0]) if start is None else start
        previous = torch.cat([start.unsqueeze(1), matrices[:, :-1]], dim=1)
        painted = self.to_pixels(matrices[:, -1])
        return PaintTrace(
            matrices=matrices,
            updates=matrices - previous,
            painted=painted,
            images=self.refiner(painted),
            commands=commands,
        )


def rule_impl_used(asked: str, rule: LearningRule) -> str:
    """``"parallel"`` only for a rule that has a parallel form; the step loop otherwise."""
    return "parallel" if asked == "parallel" and rule.has_parallel_form else "step"


def painting_record(config: GeneratorConfig) -> dict[str, str]:
    """``{"rule_impl_used": ...}`` for ``config``, with a ``note`` when the parallel form was
    asked for and the rule has none (``fpa train`` says so; ``--dry-run`` shows both)."""
    used = rule_impl_used(config.rule_impl, build_rule(config.rule, **config.rule_options))
    if used == config.rule_impl:
        return {"rule_impl_used": used}
    return {
        "rule_impl_used": used,
        "note": f"step loop: rule {config.rule!r} has no parallel form",
    }


def rule_contract_error(
    rule: str, painted: object, expected: tuple[int, ...], *, return_all: bool
) -> PluginContractError:
    """The error for a rule whose ``paint`` returned the wrong thing, naming its plugin."""
    from fpa.plugins import registry

    component = registry().components["rules"].get(rule)
    source = f" (plugin {component.plugin!r}, {component.origin})" if component else ""
    got = (
        f"a tensor of shape {tuple(painted.shape)}"
        if isinstance(painted, Tensor)
        else f"a {type(painted).__name__}"
    )
    axes = "(B, C, T, H, W)" if return_all else "(B, C, H, W)"
    return PluginContractError(
        f"rule {rule!r}{source} returned {got} from paint(return_all={return_all}); "
        f"expected a tensor {axes} = {expected}"
    )


def build_generator(**options: Any) -> FastWeightPainter:
    """Compose a fast weight painter from registered components by name.

    The keywords are :class:`GeneratorConfig`'s fields; any other keyword goes to the painter's
    factory (e.g. ``hidden_size=512``).
    """
    return FastWeightPainter(config=GeneratorConfig.from_options(**options))
