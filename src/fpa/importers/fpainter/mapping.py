"""Mapping the authors' generator onto fpa's: the :class:`~fpa.generator.GeneratorConfig` that
computes what theirs computes (from its sizes and their training flags), and their weights
under fpa's names and row order.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from einops import rearrange
from torch import Tensor

from fpa.generator import GeneratorConfig
from fpa.importers.fpainter.model_types import ALIASES, FpainterImportError, ModelType
from fpa.importers.fpainter.read import Architecture


@dataclass(frozen=True, kw_only=True)
class FpainterFlags:
    """The authors' training flags that shape the forward pass but are not saved in their
    checkpoints. Defaults: their published training scripts."""

    softmax_keys: bool = True  # --use_softmax
    sigmoid_rate: bool = True  # not --no_sigmoid_lr
    value_tanh: bool = False  # --val_tanh
    out_tanh: bool = True  # --out_tanh
    v2_input_tanh: bool = True  # --v2_input_sigmoid (which applies tanh)
    unet_tanh: bool = True  # --unet_tanh: the U-Net sees tanh(M_T), not M_T


# --------------------------------------------------------------------------- the config
def generator_config(kind: ModelType, arch: Architecture, flags: FpainterFlags) -> GeneratorConfig:
    """The fpa generator that computes what the authors' generator computes."""
    if flags.value_tanh and not kind.value_tanh:
        raise FpainterImportError(
            f"--value-tanh: the authors' {kind.name} generator has no value tanh (--val_tanh)"
        )
    # What reaches the refiner (or is the image): tanh(M_T) or M_T, as [0, 1] pixels.
    squash = flags.unet_tanh if kind.unet else flags.out_tanh
    return GeneratorConfig(
        rule="delta",
        painter="lstm",
        refiner="fpainter-unet" if kind.unet else "identity",
        image_size=(arch.side, arch.side),
        channels=arch.channels,
        paint_steps=arch.steps,
        latent_dim=arch.latent_dim,
        key_activation="softmax" if flags.softmax_keys else "none",
        value_activation="tanh" if flags.value_tanh else "none",
        rate_activation="sigmoid" if flags.sigmoid_rate else "none",
        output_activation="unit-tanh" if squash else "unit-none",
        per_row_rate=arch.rate_size > 1,
        learned_canvas=arch.learned_canvas,
        normalize_features=False,
        # Their first step writes v_1 k_1ᵀ without the rate, unless it starts from learned_init.
        rule_options={"first_step_unit_rate": not arch.learned_canvas},
        painter_options=painter_options(kind, arch, flags),
        refiner_options=refiner_options(kind, arch, flags),
    )


def painter_options(kind: ModelType, arch: Architecture, flags: FpainterFlags) -> dict[str, Any]:
    """The ``lstm`` controller's options: its sizes, and how it reads the latent."""
    options: dict[str, Any] = {
        "hidden_size": arch.hidden_size,
        "num_layers": arch.num_layers,
        "input_mode": kind.input_mode,
        "init_state_from_latent": arch.init_state_from_latent,
    }
    if kind.input_mode == "v2":
        options |= {
            "code_size": arch.code_size,
            "input_size": arch.input_size,
            "code_activation": "tanh" if flags.v2_input_tanh else "none",
        }
    if arch.step_embedding:
        options["step_embedding"] = True
    if arch.projection_size:
        options["projection_size"] = arch.projection_size
    return options


def refiner_options(kind: ModelType, arch: Architecture, flags: FpainterFlags) -> dict[str, Any]:
    """The ``fpainter-unet`` refiner's options (none without a U-Net)."""
    if not kind.unet:
        return {}
    return {
        "width": arch.unet_width,
        "multipliers": list(arch.unet_multipliers),
        "output_tanh": flags.out_tanh,
    }


# --------------------------------------------------------------------------- the weights
def head_rows(tensor: Tensor, arch: Architecture) -> Tensor:
    """``kvb_net`` rows from their order (part, channel, index) to fpa's (channel, part, index)."""
    side, rate, channels = arch.side, arch.rate_size, arch.channels
    keys, values, rates = tensor.split([channels * side, channels * side, channels * rate])
    per_channel = [
        rearrange(block, "(channel row) ... -> channel row ...", channel=channels)
        for block in (keys, values, rates)
    ]
    return rearrange(torch.cat(per_channel, dim=1), "channel row ... -> (channel row) ...")


TRANSFORMS: dict[str, Callable[[Tensor, Architecture], Tensor]] = {
    "head.linear.weight": head_rows,
    "head.linear.bias": head_rows,
}


def fpa_name(key: str, kind: ModelType) -> str | None:
    """fpa's name for the authors' parameter ``key`` (the first row of the table that
    matches); None when no row does."""
    for pattern, template in kind.table:
        match = re.fullmatch(pattern, key)
        if match:
            return template(match) if callable(template) else match.expand(template)
    return None


def fpa_state(
    weights: dict[str, Tensor], kind: ModelType, arch: Architecture, target: dict[str, Tensor]
) -> dict[str, Tensor]:
    """The authors' generator weights under fpa's names, checked name by name and shape by shape."""
    mapped: dict[str, Tensor] = {}
    unplaced = []
    for key, tensor in weights.items():
        if ALIASES.fullmatch(key):
            continue
        name = fpa_name(key, kind)
        if name is None:
            unplaced.append(key)
            continue
        transform = TRANSFORMS.get(name)
        mapped[name] = transform(tensor, arch) if transform else tensor
    check_names(mapped, target, unplaced=unplaced, kind=kind)
    for name, tensor in mapped.items():
        if tensor.shape != target[name].shape:
            raise FpainterImportError(
                f"the checkpoint's {name} has shape {tuple(tensor.shape)}; the fpa generator "
                f"for these sizes needs {tuple(target[name].shape)}"
            )
    return {name: tensor.to(target[name].dtype) for name, tensor in mapped.items()}


def check_names(
    mapped: dict[str, Tensor], target: dict[str, Tensor], *, unplaced: list[str], kind: ModelType
) -> None:
    """Refuse weights fpa cannot place, or that lack a parameter of fpa's generator."""
    unknown = sorted(set(mapped) - set(target))
    if unplaced or unknown:
        names = (unplaced + unknown)[:4]
        raise FpainterImportError(
            f"the checkpoint's {kind.name} generator has parameters fpa cannot place: "
            f"{', '.join(names)}{' …' if len(unplaced) + len(unknown) > 4 else ''}"
        )
    missing = sorted(set(target) - set(mapped))
    if missing:
        raise FpainterImportError(
            f"the checkpoint's {kind.name} generator lacks {', '.join(missing[:4])}"
            f"{' …' if len(missing) > 4 else ''} (is --model-type right?)"
        )
