"""Reading the authors' checkpoints: the file (tensors only, never code), its generators, and
every size of the generator, read from its weights part by part.

Their trainer saves ``{"GAN": GAN.state_dict(), "version": ..., "G_opt": ..., ...}``; the
``GAN`` entry holds the generator ``G.*``, its EMA copy ``GE.*``, the discriminator ``D.*`` (and
``D_aug.D.*``, the same tensors again).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import Tensor

from fpa.errors import weights_only_refusal
from fpa.files import load_tensors
from fpa.importers.fpainter.model_types import (
    SUPPORTED_TYPES,
    FpainterImportError,
    ModelType,
    detect_model_type,
)
from fpa.sizes import is_power_of_two

CHANNEL_COUNTS = (3, 1, 4)  # RGB, --greyscale, --transparent; in order of preference
DEFAULT_STEPS = 64  # what a v1 checkpoint paints when --paint-steps is not given
V1_INPUTS = (8, 128)  # code and input sizes of a v1 controller (which has neither)


# --------------------------------------------------------------------------- the file
def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The authors' checkpoint, read with ``weights_only=True``: code in the file never runs."""
    path = Path(path)
    if not path.is_file():
        raise FpainterImportError(f"no checkpoint file at {path}")
    try:
        state = load_tensors(path)
    except Exception as error:  # torch raises many types for foreign or damaged files
        raise FpainterImportError(unreadable_reason(path, error)) from None
    if not isinstance(state, dict) or not isinstance(state.get("GAN"), dict):
        raise FpainterImportError(
            f"{path} is not an IDSIA/fpainter checkpoint (expected a dict whose 'GAN' entry holds "
            "the states of G, GE and D)"
        )
    return state


def unreadable_reason(path: Path, error: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` refused ``path``, in one line."""
    text = " ".join(str(error).split())
    found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if found:
        return (
            f"{path} holds more than tensors and plain values (it pickles {found.group(1)}); "
            "fpa loads checkpoints with torch.load(weights_only=True) and refuses anything "
            "that would run code"
        )
    detail = re.search(r"WeightsUnpickler error: (.*?)(?: Check the documentation|$)", text)
    reason = (detail.group(1) if detail else text)[:200] or type(error).__name__
    reason = weights_only_refusal(reason) or reason
    return f"{path} is not a readable PyTorch checkpoint: {reason}"


def part(gan: dict[str, Any], prefix: str) -> dict[str, Tensor]:
    """The tensors under ``prefix.`` of the ``GAN`` state, with the prefix removed."""
    start = f"{prefix}."
    return {
        key[len(start) :]: value
        for key, value in gan.items()
        if key.startswith(start) and isinstance(value, Tensor)
    }


@dataclass(frozen=True, kw_only=True)
class AuthorsCheckpoint:
    """What an authors' checkpoint holds that fpa reads: the generator ``G``, its EMA copy
    ``GE``, the discriminator ``D`` (not imported; it tells the channels) and their version."""

    weights: dict[str, Tensor]
    ema_weights: dict[str, Tensor]
    discriminator: dict[str, Tensor]
    version: str

    def channels_hint(self) -> int | None:
        """The channels the discriminator's auxiliary head takes (``Conv2d(channels, 64, 3)``)."""
        aux_input = self.discriminator.get("to_shape_disc_out.0.weight")
        return aux_input.shape[1] if aux_input is not None and aux_input.dim() == 4 else None


def read_generators(path: str | Path, kind: ModelType) -> AuthorsCheckpoint:
    """The checkpoint at ``path``, refused unless it holds both generators of type ``kind``."""
    state = read_checkpoint(path)
    gan = state["GAN"]
    weights, ema_weights = part(gan, "G"), part(gan, "GE")
    if not weights or not ema_weights:
        raise FpainterImportError(
            f"{path} is not an IDSIA/fpainter checkpoint: its 'GAN' entry lacks the generator "
            "G or its EMA copy GE"
        )
    detected = detect_model_type(weights)
    if detected is None:
        raise FpainterImportError(
            f"{path} holds a generator fpa cannot import (not one of {', '.join(SUPPORTED_TYPES)})"
        )
    if detected != kind.name:
        raise FpainterImportError(
            f"{path} holds a {detected} generator, not {kind.name}; pass --model-type {detected}"
        )
    version = state.get("version")
    return AuthorsCheckpoint(
        weights=weights,
        ema_weights=ema_weights,
        discriminator=part(gan, "D"),
        version=version if isinstance(version, str) else "",
    )


# --------------------------------------------------------------------------- the architecture
@dataclass(frozen=True, kw_only=True)
class Architecture:
    """Sizes read from the generator's weights (and the options that must agree with them)."""

    latent_dim: int
    hidden_size: int
    num_layers: int
    steps: int
    side: int
    channels: int
    rate_size: int
    code_size: int = 8
    input_size: int = 128
    init_state_from_latent: bool = True
    step_embedding: bool = False
    projection_size: int = 0
    learned_canvas: bool = False
    unet_width: int = 0
    unet_multipliers: tuple[int, ...] = ()
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class UnetSizes:
    """The U-Net's width, the channels it takes, and its levels' width multipliers."""

    width: int
    channels: int
    multipliers: tuple[int, ...]


@dataclass(frozen=True, kw_only=True)
class Inputs:
    """What the controller reads: the latent, v2's per-step codes, and the steps the weights
    store (None: any number)."""

    latent_dim: int
    code_size: int
    input_size: int
    stored_steps: int | None


def read_architecture(
    weights: dict[str, Tensor],
    kind: ModelType,
    *,
    image_size: int | None,
    paint_steps: int | None,
    channels_hint: int | None = None,
) -> Architecture:
    """Every size of the generator, from its weights; given sizes must agree with them."""
    hidden_size = weights["decoder_rnn.weight_hh_l0"].shape[1]
    unet = read_unet(weights) if kind.unet else None
    side, channels, rate_size = read_picture(
        weights, unet=unet, image_size=image_size, channels_hint=channels_hint
    )
    inputs = read_inputs(weights, kind)
    steps, steps_notes = decide_steps(kind, inputs.stored_steps, paint_steps)
    per_row = rate_size == side and side > 1
    rate_notes = ["one learning rate per row (the authors' --vect_lr)"] if per_row else []
    return Architecture(
        latent_dim=inputs.latent_dim,
        hidden_size=hidden_size,
        num_layers=sum(1 for key in weights if re.fullmatch(r"decoder_rnn\.weight_ih_l\d+", key)),
        steps=steps,
        side=side,
        channels=channels,
        rate_size=rate_size,
        code_size=inputs.code_size,
        input_size=inputs.input_size,
        init_state_from_latent="latent_to_init.weight" in weights,
        step_embedding="decoder_time_enc" in weights,
        projection_size=projection_size(weights),
        learned_canvas="learned_init" in weights,
        unet_width=unet.width if unet else 0,
        unet_multipliers=unet.multipliers if unet else (),
        notes=rate_notes + steps_notes,
    )


def projection_size(weights: dict[str, Tensor]) -> int:
    """The width of the layer between the LSTM and the head (``wide_net``); 0 without one."""
    return weights["wide_net.0.weight"].shape[0] if "wide_net.0.weight" in weights else 0


def read_unet(weights: dict[str, Tensor]) -> UnetSizes:
    """The U-Net's sizes: its stem's width and input channels, each level's multiplier."""
    stem = weights["u_net.init_conv.weight"]
    width = stem.shape[0]
    levels = sorted(
        {int(m.group(1)) for k in weights if (m := re.match(r"u_net\.downs\.(\d+)\.", k))}
    )
    multipliers = tuple(
        weights[f"u_net.downs.{i}.0.block1.proj.weight"].shape[0] // width for i in levels
    )
    return UnetSizes(width=width, channels=stem.shape[1], multipliers=multipliers)


def head_layouts(rows: int, channel_counts: tuple[int, ...]) -> list[tuple[int, int, int]]:
    """``(side, channels, rate_size)`` with ``channels · (2·side + rate_size) == rows`` and a
    power-of-two side (their trainer takes no other); one rate per step first."""
    layouts = []
    for per_row in (False, True):
        for channels in channel_counts:
            if rows % channels:
                continue
            per_channel = rows // channels
            side = per_channel // 3 if per_row else (per_channel - 1) // 2
            rate = side if per_row else 1
            if is_power_of_two(side) and 2 * side + rate == per_channel:
                layouts.append((side, channels, rate))
    return layouts


def picture_layouts(
    weights: dict[str, Tensor], *, unet: UnetSizes | None, channels_hint: int | None
) -> list[tuple[int, int, int]]:
    """The head's layouts the rest of the generator allows. The image side: the U-Net is built
    for it (their ``Unet(dim=image_size)``), a learned initial matrix has its shape, else the
    head's size decides. The channels: the U-Net's, or the discriminator's auxiliary head's
    input, when there is one."""
    counts = (channels_hint,) if channels_hint in CHANNEL_COUNTS else CHANNEL_COUNTS
    counts = (unet.channels,) if unet is not None else counts
    layouts = head_layouts(weights["kvb_net.weight"].shape[0], counts)
    if "learned_init" in weights:
        return [x for x in layouts if x[0] == weights["learned_init"].shape[-1]]
    if unet is not None:
        return [x for x in layouts if x[0] == unet.width]
    return layouts


def read_picture(
    weights: dict[str, Tensor],
    *,
    unet: UnetSizes | None,
    image_size: int | None,
    channels_hint: int | None,
) -> tuple[int, int, int]:
    """``(side, channels, rate_size)`` of the picture the generator paints; a given
    ``image_size`` must be one its weights allow, and is needed when they allow several."""
    layouts = picture_layouts(weights, unet=unet, channels_hint=channels_hint)
    sides = sorted({x[0] for x in layouts})
    if image_size is not None and image_size not in sides:
        fits = f"; pass --image-size {sides[0]}" if len(sides) == 1 else ""
        raise FpainterImportError(
            f"--image-size {image_size} does not fit the checkpoint: its weights paint "
            f"{' or '.join(f'{x}×{x}' for x in sides) or 'no power-of-two-sided'} images{fits}"
        )
    if image_size is None and len(sides) != 1:
        rows = weights["kvb_net.weight"].shape[0]
        raise FpainterImportError(
            f"the checkpoint's head (kvb_net, {rows} outputs per step) fits image sides "
            f"{', '.join(map(str, sides)) or 'none'}; pass --image-size"
        )
    return next(x for x in layouts if x[0] == (image_size or sides[0]))


def read_inputs(weights: dict[str, Tensor], kind: ModelType) -> Inputs:
    """What the controller reads. v2 expands the latent into one code per step; a step
    embedding has one row per step; the v1 LSTM can run any number of steps."""
    stored_steps = None
    if kind.input_mode == "v2":
        code_size = weights["per_time_linear_input.weight"].shape[1]
        input_size = weights["per_time_linear_input.weight"].shape[0]
        expand_rows, latent_dim = weights["input_generator.weight"].shape
        stored_steps = expand_rows // code_size
    else:
        code_size, input_size = V1_INPUTS
        latent_dim = weights["decoder_rnn.weight_ih_l0"].shape[1]
    if "decoder_time_enc" in weights:
        stored_steps = weights["decoder_time_enc"].shape[0]
    return Inputs(
        latent_dim=latent_dim,
        code_size=code_size,
        input_size=input_size,
        stored_steps=stored_steps,
    )


def decide_steps(
    kind: ModelType, stored_steps: int | None, paint_steps: int | None
) -> tuple[int, list[str]]:
    """The number of steps: the weights', which ``paint_steps`` must match when given; else
    ``paint_steps``, else :data:`DEFAULT_STEPS` (with a note)."""
    if stored_steps is not None and paint_steps is not None and paint_steps != stored_steps:
        raise FpainterImportError(
            f"--paint-steps {paint_steps} does not fit the checkpoint: its weights paint "
            f"{stored_steps} steps; pass --paint-steps {stored_steps}"
        )
    steps = stored_steps or paint_steps
    if steps is not None:
        return steps, []
    note = (
        f"{kind.name} checkpoints do not record the number of steps: painting {DEFAULT_STEPS} "
        "(pass --paint-steps to choose)"
    )
    return DEFAULT_STEPS, [note]
