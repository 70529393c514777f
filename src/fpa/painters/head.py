"""The head shared by every controller: per-step features -> keys, values and rates per channel.

Activations live here, not in the rules (docs/design.md §2), so rules stay pure linear algebra.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from einops import einsum, rearrange
from torch import Tensor, nn

from fpa.commands import Command
from fpa.errors import ConfigError, did_you_mean

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "none": lambda x: x,
    "softmax": lambda x: x.softmax(dim=-1),
    "l2": lambda x: F.normalize(x, dim=-1),
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softplus": F.softplus,
    # Outputs read as pixels in [0, 1] (lightweight-gan's convention, in which the authors'
    # models were trained), mapped onto fpa's [-1, 1]: 2·tanh(x) − 1 and 2·x − 1.
    "unit-tanh": lambda x: 2 * torch.tanh(x) - 1,
    "unit-none": lambda x: 2 * x - 1,
}


def activation(name: str, role: str) -> Callable[[Tensor], Tensor]:
    """Look up an activation by name, with the closest known name in the error."""
    if name in ACTIVATIONS:
        return ACTIVATIONS[name]
    hint = did_you_mean(name, ACTIVATIONS)
    raise ConfigError(
        f"unknown {role} activation {name!r}{hint} (known: {', '.join(sorted(ACTIVATIONS))})"
    )


# How the channels of one step share a stroke (docs/design.md §2):
# per-channel: each channel its own key, value and rate (the paper's painters);
# shared-key: one key per step for every channel, each channel its own value and rate, so all
#   channels write the same columns at a step;
# coloured: one key, one value and one rate per step and a colour (one weight per channel) that
#   scales the value, so each update is one coloured rank-1 stroke.
STROKES = ("per-channel", "shared-key", "coloured")


@dataclass(frozen=True)
class StrokeLayout:
    """How many channels' worth of keys, values and rates the head emits per update, and
    whether it emits a colour (one weight per channel) that scales the shared value."""

    key_channels: int
    value_channels: int
    rate_channels: int
    colour: bool

    @classmethod
    def of(cls, strokes: str, channels: int) -> StrokeLayout:
        shared = {
            "per-channel": (channels, channels, channels, False),
            "shared-key": (1, channels, channels, False),
            "coloured": (1, 1, 1, True),
        }
        if strokes not in shared:
            raise ConfigError(
                f"strokes must be one of {', '.join(STROKES)}; got {strokes!r}"
                f"{did_you_mean(strokes, STROKES)}"
            )
        return cls(*shared[strokes])


def check_stroke_scale(stroke_scale: int, height: int, width: int) -> None:
    """Refuse a stroke scale below 1 or one that does not divide both sides of the image."""
    if stroke_scale < 1 or height % stroke_scale or width % stroke_scale:
        raise ConfigError(
            f"stroke_scale must be ≥ 1 and divide the image's sides ({height}×{width}); "
            f"got {stroke_scale}"
        )


# The basis a key's or value's entries are emitted in: pixel (one number per entry, the paper's
# painters) or cosine (coefficients of a damped cosine basis, so strokes start smooth and learn
# fine detail more slowly than broad shading).
STROKE_BASES = ("pixel", "cosine")


def check_stroke_basis(stroke_basis: str) -> None:
    if stroke_basis not in STROKE_BASES:
        raise ConfigError(
            f"stroke_basis must be one of {', '.join(STROKE_BASES)}; got {stroke_basis!r}"
            f"{did_you_mean(stroke_basis, STROKE_BASES)}"
        )


def cosine_basis(size: int) -> Tensor:
    """``(entry, frequency)``: the orthonormal DCT-II basis of ``size`` entries, frequency k
    damped by ``1 / (1 + 8k / size)`` and the whole rescaled to keep the variance of a random
    stroke. The head emits coefficients and reads entries = basis · coefficients: a fixed
    invertible map, so every stroke stays reachable, but Adam moves each coefficient about
    equally, so fine detail (high k) moves several times slower than broad shading (low k)."""
    entry = torch.arange(size, dtype=torch.float64)[:, None]
    frequency = torch.arange(size, dtype=torch.float64)[None, :]
    basis = torch.cos(torch.pi * (entry + 0.5) * frequency / size)
    basis = basis * torch.where(frequency == 0, (1 / size) ** 0.5, (2 / size) ** 0.5)
    damping = 1 / (1 + 8 * frequency / size)
    basis = basis * damping * (size / damping.square().sum()) ** 0.5
    return basis.float()


def stretch(part: Tensor, size: int) -> Tensor:
    """Linearly interpolate the last axis of ``part`` to ``size`` entries (a no-op when it
    has them): how a key or value emitted at a coarse ``stroke_scale`` covers the image.
    Interpolation is linear, so the update stays rank-1: it is the outer product of the
    stretched value and the stretched key."""
    entries = part.shape[-1]
    if entries == size:
        return part
    flat = part.reshape(-1, 1, entries)
    smooth = F.interpolate(flat, size=size, mode="linear", align_corners=False)
    return smooth.reshape(*part.shape[:-1], size)


@dataclass
class PaintCommands:
    """What the head emits for the rule, per channel: ``keys (B, C, T, W)``,
    ``values (B, C, T, H)`` and ``rates (B, C, T, R)``, R = 1 or H with per-row rates, and
    ``extra``: each command the rule declares, by name, ``(B, C, T, size)``. The layout
    :meth:`fpa.LearningRule.paint` takes, so the rule reads them as they are."""

    keys: Tensor
    values: Tensor
    rates: Tensor
    extra: dict[str, Tensor] = field(default_factory=dict)

    def apply(self, change: Callable[[Tensor], Tensor]) -> PaintCommands:
        """The commands with ``change`` applied to every tensor (``.cpu()``, ``.float()``)."""
        return PaintCommands(
            keys=change(self.keys),
            values=change(self.values),
            rates=change(self.rates),
            extra={name: change(command) for name, command in self.extra.items()},
        )


class PaintHead(nn.Module):
    """``Linear(hidden, U·C·(W + H + R))`` split per channel into key, value and rate, in that
    order, with R = 1 (one rate per step) or H (``per_row_rate``); optionally a LayerNorm on the
    features first (``normalize_features``).

    With shared ``strokes`` the channels share the key (``shared-key``), or the key, value and
    rate with a per-channel colour scaling the value (``coloured``); the linear layer then
    emits ``U·(W·Ck + H·Cv + R·Cr + Cc)`` numbers per step (the keys, values, rates and colour
    of each update, in that order), and the shared parts are broadcast over the channels.

    ``updates_per_step`` (U) rank-1 updates come from each controller step, in order: a
    controller that runs T/U steps paints T updates, so the rank budget grows without the cost
    of more recurrent steps. The commands have ``T = controller steps · U`` on their step axis.

    ``commands``, the rule's declared extra commands (:class:`fpa.Command`), follow the rate
    (after the colour with shared strokes), each shared as the rate is, with its own activation;
    without any the layer has the shape it always had.
    """

    def __init__(
        self,
        *,
        in_features: int,
        channels: int,
        height: int,
        width: int,
        key_activation: str = "softmax",
        value_activation: str = "none",
        rate_activation: str = "sigmoid",
        per_row_rate: bool = False,
        normalize_features: bool = False,
        updates_per_step: int = 1,
        strokes: str = "per-channel",
        stroke_scale: int = 1,
        stroke_basis: str = "pixel",
        commands: tuple[Command, ...] = (),
    ) -> None:
        super().__init__()
        check_stroke_scale(stroke_scale, height, width)
        check_stroke_basis(stroke_basis)
        self.channels, self.height, self.width = channels, height, width
        self.stroke_scale = stroke_scale
        # What the linear layer emits per key and value: one entry per stroke_scale pixels.
        self.key_size, self.value_size = width // stroke_scale, height // stroke_scale
        self.updates_per_step = updates_per_step
        # LayerNorm on the controller's features: an LSTM's outputs start near 0.05 in size
        # and barely vary with the latent, so without it every painting starts out alike.
        self.norm = nn.LayerNorm(in_features) if normalize_features else nn.Identity()
        self.rate_size = height if per_row_rate else 1
        self.per_row_rate = per_row_rate
        self.key_activation = activation(key_activation, "key")
        self.value_activation = activation(value_activation, "value")
        self.rate_activation = activation(rate_activation, "rate")
        self.strokes = strokes
        self.layout = StrokeLayout.of(strokes, channels)
        self.extra = commands
        self.extra_sizes = [command.width(height=height, width=width) for command in commands]
        self.extra_activations = [activation(c.activation, f"{c.name} command") for c in commands]
        self.linear = nn.Linear(in_features, updates_per_step * self.update_size)
        self.start_extra_biases()
        self.stroke_basis = stroke_basis
        self.key_basis: Tensor | None
        self.value_basis: Tensor | None
        for name, size in (("key_basis", self.key_size), ("value_basis", self.value_size)):
            basis = cosine_basis(size) if stroke_basis == "cosine" else None
            self.register_buffer(name, basis, persistent=False)

    def start_extra_biases(self) -> None:
        """Set the bias of each declared command's outputs to its ``initial_bias``."""
        if not any(command.initial_bias for command in self.extra):
            return
        per_channel = self.strokes == "per-channel"
        parts = self.update_size // self.channels if per_channel else self.update_size
        copies = self.layout.rate_channels if not per_channel else 1
        offset = parts - sum(size * copies for size in self.extra_sizes)
        bias = self.linear.bias.detach().view(self.updates_per_step, -1, parts)
        with torch.no_grad():
            for command, size in zip(self.extra, self.extra_sizes, strict=True):
                bias[..., offset : offset + size * copies] = command.initial_bias
                offset += size * copies

    def entries(self, coefficients: Tensor, basis: Tensor | None) -> Tensor:
        """A key's or value's entries from what the linear layer emits (``... size``)."""
        if basis is None:
            return coefficients
        return einsum(basis, coefficients, "entry frequency, ... frequency -> ... entry")

    @property
    def update_size(self) -> int:
        """Numbers the linear layer emits per rank-1 update (for all channels)."""
        layout = self.layout
        return (
            layout.key_channels * self.key_size
            + layout.value_channels * self.value_size
            + layout.rate_channels * self.rate_size
            + (self.channels if layout.colour else 0)
            + layout.rate_channels * sum(self.extra_sizes)
        )

    def forward(self, features: Tensor) -> PaintCommands:
        if self.strokes != "per-channel":
            return self.shared_strokes(features)
        out = rearrange(
            self.linear(self.norm(features)),
            "batch step (update channel part) -> batch channel (step update) part",
            update=self.updates_per_step,
            channel=self.channels,
        )
        sizes = [self.key_size, self.value_size, self.rate_size, *self.extra_sizes]
        keys, values, rates, *extra = out.split(sizes, dim=-1)
        keys, values = self.entries(keys, self.key_basis), self.entries(values, self.value_basis)
        return PaintCommands(
            keys=stretch(self.key_activation(keys), self.width),
            values=stretch(self.value_activation(values), self.height),
            rates=self.rate_activation(rates),
            extra=self.activate_extra(extra),
        )

    def activate_extra(self, parts: list[Tensor]) -> dict[str, Tensor]:
        """Each declared command's activation applied to its part, by name."""
        return {
            command.name: activate(part)
            for command, activate, part in zip(
                self.extra, self.extra_activations, parts, strict=True
            )
        }

    def shared_strokes(self, features: Tensor) -> PaintCommands:
        """Commands for ``shared-key`` and ``coloured`` strokes: the shared parts are views
        broadcast over the channel axis, so every rule reads the usual per-channel layout."""
        layout = self.layout
        out = rearrange(
            self.linear(self.norm(features)),
            "batch step (update part) -> batch (step update) part",
            update=self.updates_per_step,
        )
        sizes = [
            layout.key_channels * self.key_size,
            layout.value_channels * self.value_size,
            layout.rate_channels * self.rate_size,
            self.channels if layout.colour else 0,
            *(layout.rate_channels * size for size in self.extra_sizes),
        ]
        keys, values, rates, colour, *extra = out.split(sizes, dim=-1)

        def per_channel(
            part: Tensor,
            channels: int,
            activate: Callable[[Tensor], Tensor],
            size: int,
            basis: Tensor | None = None,
        ) -> Tensor:
            split = rearrange(
                part, "batch step (channel size) -> batch channel step size", channel=channels
            )
            split = self.entries(split, basis)
            return stretch(activate(split), size).expand(-1, self.channels, -1, -1)

        values = per_channel(
            values, layout.value_channels, self.value_activation, self.height, self.value_basis
        )
        if layout.colour:
            values = values * rearrange(colour, "batch step channel -> batch channel step 1")
        return PaintCommands(
            keys=per_channel(
                keys, layout.key_channels, self.key_activation, self.width, self.key_basis
            ),
            values=values,
            rates=per_channel(rates, layout.rate_channels, self.rate_activation, self.rate_size),
            extra={
                command.name: per_channel(part, layout.rate_channels, activate, size)
                for command, activate, part, size in zip(
                    self.extra, self.extra_activations, extra, self.extra_sizes, strict=True
                )
            },
        )
