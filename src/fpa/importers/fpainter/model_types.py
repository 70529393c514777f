"""The authors' model types: how each names its parameters, and how fpa places them.

Each table row: a regular expression over the authors' parameter name -> fpa's name (a
template, or a function of the match). The first row that matches wins; an unmatched name is an
error (:func:`fpa.importers.fpainter.mapping.fpa_state`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

from fpa.errors import FpaError, did_you_mean

SOURCE = "IDSIA/fpainter"
SUPPORTED_TYPES = (
    "lstm_delta",
    "lstm_delta_unet",
    "lstm_delta_split_v2",
    "lstm_delta_split_v2_unet",
)
# Model types of the authors' code that fpa does not import (not in the paper, or another rule).
OTHER_TYPES = (
    "base",
    "lstm_sum",
    "lstm_oja_split_v2",
    "lstm_delta_split",
    "lstm_delta_split_unet",
    "rfwp_delta",
    "trafo_delta_split",
)


class FpainterImportError(FpaError):
    """A checkpoint that cannot be imported; nothing is written."""


# One row of a table: the authors' name (a pattern) -> fpa's (a template, or a function of the
# match).
Rule = tuple[str, str | Callable[[re.Match[str]], str]]

# The U-Net, applied in order to the name inside ``u_net.``: theirs (lucidrains' layout) -> the
# ``fpainter-unet`` refiner's.
UNET_RENAMES: tuple[tuple[str, str], ...] = (
    (r"^init_conv\.", "stem."),
    (r"^mid_block1\.", "middle.0."),
    (r"^mid_attn\.fn\.norm\.", "middle.1.norm."),
    (r"^mid_attn\.fn\.fn\.", "middle.1.fn."),
    (r"^mid_block2\.", "middle.2."),
    (r"^final_res_block\.", "final."),
    (r"^final_conv\.", "out."),
    (r"^(downs|ups)\.(\d+)\.([01])\.", r"\1.\2.blocks.\3."),
    (r"^(downs|ups)\.(\d+)\.2\.fn\.norm\.", r"\1.\2.attention.norm."),
    (r"^(downs|ups)\.(\d+)\.2\.fn\.fn\.to_out\.0\.", r"\1.\2.attention.fn.to_out."),
    (r"^(downs|ups)\.(\d+)\.2\.fn\.fn\.to_out\.1\.", r"\1.\2.attention.fn.norm."),
    (r"^(downs|ups)\.(\d+)\.2\.fn\.fn\.", r"\1.\2.attention.fn."),
    (r"^(downs|ups)\.(\d+)\.3\.", r"\1.\2.resample."),
    (r"\.block1\.proj\.", ".body.0."),
    (r"\.block1\.norm\.", ".body.1."),
    (r"\.block2\.proj\.", ".body.3."),
    (r"\.block2\.norm\.", ".body.4."),
    (r"\.res_conv\.", ".skip."),
    (r"\.g$", ".gain"),
    (r"\.b$", ".bias"),
)


def unet_name(inner: str) -> str:
    """fpa's refiner parameter name for the authors' ``u_net.<inner>``."""
    for pattern, replacement in UNET_RENAMES:
        inner = re.sub(pattern, replacement, inner)
    return f"refiner.{inner}"


CONTROLLER: tuple[Rule, ...] = (
    (r"decoder_rnn\.((?:weight|bias)_(?:ih|hh)_l\d+)", r"painter.lstm.\1"),
    (r"latent_to_init\.(weight|bias)", r"painter.initial_state.\1"),
    (r"decoder_time_enc", "painter.inputs.step_embedding"),
    (r"wide_net\.0\.(weight|bias)", r"painter.projection.0.\1"),
    (r"kvb_net\.(weight|bias)", r"head.linear.\1"),
    (r"learned_init", "canvas"),
)
V2_INPUTS: tuple[Rule, ...] = (
    (r"input_generator\.(weight|bias)", r"painter.inputs.expand.\1"),
    (r"per_time_linear_input\.(weight|bias)", r"painter.inputs.project.\1"),
)
UNET: tuple[Rule, ...] = ((r"u_net\.(.+)", lambda match: unet_name(match.group(1))),)
# Second copies of the same tensors (their parameter groups): not parameters of their own.
ALIASES = re.compile(r"mod_dict\..*")


@dataclass(frozen=True, kw_only=True)
class ModelType:
    """One of the authors' model types: its input generator, U-Net, and name table."""

    name: str
    input_mode: str
    unet: bool
    table: tuple[Rule, ...]
    value_tanh: bool = True  # whether their generator class has the --val_tanh option


MODEL_TYPES: dict[str, ModelType] = {
    kind.name: kind
    for kind in (
        ModelType(name="lstm_delta", input_mode="v1", unet=False, table=CONTROLLER),
        ModelType(
            name="lstm_delta_unet",
            input_mode="v1",
            unet=True,
            table=CONTROLLER + UNET,
            value_tanh=False,
        ),
        ModelType(
            name="lstm_delta_split_v2", input_mode="v2", unet=False, table=CONTROLLER + V2_INPUTS
        ),
        ModelType(
            name="lstm_delta_split_v2_unet",
            input_mode="v2",
            unet=True,
            table=CONTROLLER + V2_INPUTS + UNET,
        ),
    )
}


def find_model_type(name: str) -> ModelType:
    """The supported model type ``name``, or one readable error."""
    if name in MODEL_TYPES:
        return MODEL_TYPES[name]
    supported = ", ".join(SUPPORTED_TYPES)
    if name in OTHER_TYPES:
        raise FpainterImportError(
            f"model type {name!r} of the authors' code is not supported; fpa imports the "
            f"paper's FPAs: {supported}"
        )
    hint = did_you_mean(name, SUPPORTED_TYPES)
    raise FpainterImportError(
        f"unknown fpainter model type {name!r}{hint} (supported: {supported})"
    )


def detect_model_type(weights: dict[str, Tensor]) -> str | None:
    """Which supported model type a generator's parameter names belong to, if any.

    ``lstm_oja_split_v2`` has the very names of ``lstm_delta_split_v2`` (only the rule differs),
    so it cannot be told apart here.
    """
    if "decoder_rnn.weight_ih_l0" not in weights or "kvb_net.weight" not in weights:
        return None
    unet = any(key.startswith("u_net.") for key in weights)
    if "input_generator.weight" in weights:
        return "lstm_delta_split_v2_unet" if unet else "lstm_delta_split_v2"
    if "latent_to_init.weight" in weights and "per_time_linear_input.weight" not in weights:
        return "lstm_delta_unet" if unet else "lstm_delta"
    return None
