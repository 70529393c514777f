"""Import the authors' trained FPAs (github IDSIA/fpainter) as fpa generators and run folders.

Their trainer saves ``{"GAN": GAN.state_dict(), "version": ..., "G_opt": ..., ...}``; the
``GAN`` entry holds the generator ``G.*``, its EMA copy ``GE.*``, the discriminator ``D.*`` (and
``D_aug.D.*``, the same tensors again). Their U-Net models also list every generator module a
second time under ``mod_dict.*`` (parameter groups); those aliases are skipped.

What their generators compute (``painter.py``: ``LSTMDeltaGenerator``,
``LSTMDeltaTimeSplitLatentGeneratorV2`` and the ``...Unet`` variants), in fpa's terms:

- controller: an LSTM (``decoder_rnn``) over T steps. v1 (``lstm_delta*``) feeds ``z`` at every
  step; v2 (``lstm_delta_split_v2*``) feeds ``per_time_linear_input(act(input_generator(z)))``
  viewed as T codes, with ``act`` = tanh under their ``--v2_input_sigmoid``. The initial
  ``(h, c)`` is ``latent_to_init(z)`` split in two halves (always for v1, with
  ``--use_latent_to_init`` for v2) — fpa's ``lstm`` painter with ``input_mode``.
- head: ``kvb_net`` emits, per step, the keys of all channels, then all values, then all rates
  (rows ordered part, channel, index); fpa's head orders them channel, part, index, so the rows
  are permuted on import. Keys softmax (``--use_softmax``), rates sigmoid, values optionally
  tanh (``--val_tanh``); one rate per step, or per row (``--vect_lr``).
- rule: the delta rule; the first step writes ``v_1 k_1ᵀ`` without the rate
  (``first_step_unit_rate``), unless a learned initial matrix (``learned_init``) is the start.
- output: ``tanh(M_T)`` under ``--out_tanh``; the U-Net models feed ``tanh(M_T)`` (under
  ``--unet_tanh``) to their U-Net and take ``tanh`` of its output — the ``fpainter-unet`` refiner.
- pixels: their data loader gives images in [0, 1] (no normalisation), so their outputs are
  [0, 1] pixels; the output activations ``unit-tanh``/``unit-none`` and the refiner map them
  onto fpa's [-1, 1] (``2·y − 1``), and fpa's writers clamp, as their ``generate`` clamps to
  [0, 1].

The training flags above are not stored in a checkpoint: :class:`FpainterFlags` holds them, with
the values of the authors' published scripts as defaults. Sizes are read from the weights.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from einops import rearrange
from torch import Tensor

from fpa.errors import ConfigError, FpaError, did_you_mean, error_summary, weights_only_refusal
from fpa.files import load_tensors
from fpa.generator import FastWeightPainter, GeneratorConfig
from fpa.runs import RunDir, TrainConfig
from fpa.runs.checkpoint import checkpoint_bytes, model_state
from fpa.runs.lock import RunLock
from fpa.sizes import is_power_of_two
from fpa.training.presets import resolve_config

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
CHANNEL_COUNTS = (3, 1, 4)  # RGB, --greyscale, --transparent; in order of preference


class FpainterImportError(FpaError):
    """A checkpoint that cannot be imported; nothing is written."""


@dataclass(frozen=True)
class FpainterFlags:
    """The authors' training flags that shape the forward pass but are not saved in their
    checkpoints. Defaults: their published training scripts."""

    softmax_keys: bool = True  # --use_softmax
    sigmoid_rate: bool = True  # not --no_sigmoid_lr
    value_tanh: bool = False  # --val_tanh
    out_tanh: bool = True  # --out_tanh
    v2_input_tanh: bool = True  # --v2_input_sigmoid (which applies tanh)
    unet_tanh: bool = True  # --unet_tanh: the U-Net sees tanh(M_T), not M_T


# --------------------------------------------------------------------------- the tables
# Each row: a regular expression over the authors' parameter name -> fpa's name (a template, or
# a function of the match). The first row that matches wins; an unmatched name is an error.
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


@dataclass(frozen=True)
class ModelType:
    """One of the authors' model types: its input generator, U-Net, and name table."""

    name: str
    input_mode: str
    unet: bool
    table: tuple[Rule, ...]
    value_tanh: bool = True  # whether their generator class has the --val_tanh option


MODEL_TYPES: dict[str, ModelType] = {
    "lstm_delta": ModelType("lstm_delta", "v1", False, CONTROLLER),
    "lstm_delta_unet": ModelType(
        "lstm_delta_unet", "v1", True, CONTROLLER + UNET, value_tanh=False
    ),
    "lstm_delta_split_v2": ModelType("lstm_delta_split_v2", "v2", False, CONTROLLER + V2_INPUTS),
    "lstm_delta_split_v2_unet": ModelType(
        "lstm_delta_split_v2_unet", "v2", True, CONTROLLER + V2_INPUTS + UNET
    ),
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


# --------------------------------------------------------------------------- reading
def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The authors' checkpoint, read with ``weights_only=True``: code in the file never runs."""
    path = Path(path)
    if not path.is_file():
        raise FpainterImportError(f"no checkpoint file at {path}")
    try:
        state = load_tensors(path)
    except Exception as error:  # torch raises many types for foreign or damaged files
        text = " ".join(str(error).split())
        found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        if found:
            raise FpainterImportError(
                f"{path} holds more than tensors and plain values (it pickles {found.group(1)}); "
                "fpa loads checkpoints with torch.load(weights_only=True) and refuses anything "
                "that would run code"
            ) from None
        detail = re.search(r"WeightsUnpickler error: (.*?)(?: Check the documentation|$)", text)
        reason = (detail.group(1) if detail else text)[:200] or type(error).__name__
        reason = weights_only_refusal(reason) or reason
        raise FpainterImportError(
            f"{path} is not a readable PyTorch checkpoint: {reason}"
        ) from None
    if not isinstance(state, dict) or not isinstance(state.get("GAN"), dict):
        raise FpainterImportError(
            f"{path} is not an IDSIA/fpainter checkpoint (expected a dict whose 'GAN' entry holds "
            "the states of G, GE and D)"
        )
    return state


def part(gan: dict[str, Any], prefix: str) -> dict[str, Tensor]:
    """The tensors under ``prefix.`` of the ``GAN`` state, with the prefix removed."""
    start = f"{prefix}."
    return {
        key[len(start) :]: value
        for key, value in gan.items()
        if key.startswith(start) and isinstance(value, Tensor)
    }


# --------------------------------------------------------------------------- the architecture
@dataclass
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


def read_architecture(
    weights: dict[str, Tensor],
    kind: ModelType,
    *,
    image_size: int | None,
    paint_steps: int | None,
    channels_hint: int | None = None,
) -> Architecture:
    """Every size of the generator, from its weights; given sizes must agree with them."""
    hidden = weights["decoder_rnn.weight_hh_l0"].shape[1]
    num_layers = sum(1 for key in weights if re.fullmatch(r"decoder_rnn\.weight_ih_l\d+", key))
    kvb = weights["kvb_net.weight"]
    rows = kvb.shape[0]
    notes: list[str] = []

    unet_width, unet_channels = 0, None
    multipliers: tuple[int, ...] = ()
    if kind.unet:
        stem = weights["u_net.init_conv.weight"]
        unet_width, unet_channels = stem.shape[0], stem.shape[1]
        levels = sorted(
            {int(m.group(1)) for k in weights if (m := re.match(r"u_net\.downs\.(\d+)\.", k))}
        )
        multipliers = tuple(
            weights[f"u_net.downs.{i}.0.block1.proj.weight"].shape[0] // unet_width for i in levels
        )

    # The image side: the U-Net is built for it (their Unet(dim=image_size)), a learned initial
    # matrix has its shape, else the head's size decides. The channels: the U-Net's, or the
    # discriminator's auxiliary head's input, when there is one.
    counts = (channels_hint,) if channels_hint in CHANNEL_COUNTS else CHANNEL_COUNTS
    counts = (unet_channels,) if unet_channels is not None else counts
    layouts = head_layouts(rows, counts)
    if "learned_init" in weights:
        layouts = [x for x in layouts if x[0] == weights["learned_init"].shape[-1]]
    elif kind.unet:
        layouts = [x for x in layouts if x[0] == unet_width]
    sides = sorted({x[0] for x in layouts})
    if image_size is not None and image_size not in sides:
        fits = f"; pass --image-size {sides[0]}" if len(sides) == 1 else ""
        raise FpainterImportError(
            f"--image-size {image_size} does not fit the checkpoint: its weights paint "
            f"{' or '.join(f'{x}×{x}' for x in sides) or 'no power-of-two-sided'} images{fits}"
        )
    if image_size is None and len(sides) != 1:
        raise FpainterImportError(
            f"the checkpoint's head (kvb_net, {rows} outputs per step) fits image sides "
            f"{', '.join(map(str, sides)) or 'none'}; pass --image-size"
        )
    side, channels, rate_size = next(x for x in layouts if x[0] == (image_size or sides[0]))
    if rate_size == side and side > 1:
        notes.append("one learning rate per row (the authors' --vect_lr)")

    # The number of steps: v2 expands the latent into one code per step; a step embedding has
    # one row per step; the v1 LSTM can run any number of steps.
    stored_steps = None
    if kind.input_mode == "v2":
        code_size = weights["per_time_linear_input.weight"].shape[1]
        input_size = weights["per_time_linear_input.weight"].shape[0]
        expand_rows, latent_dim = weights["input_generator.weight"].shape
        stored_steps = expand_rows // code_size
    else:
        code_size, input_size = 8, 128
        latent_dim = weights["decoder_rnn.weight_ih_l0"].shape[1]
    if "decoder_time_enc" in weights:
        stored_steps = weights["decoder_time_enc"].shape[0]
    if stored_steps is not None and paint_steps is not None and paint_steps != stored_steps:
        raise FpainterImportError(
            f"--paint-steps {paint_steps} does not fit the checkpoint: its weights paint "
            f"{stored_steps} steps; pass --paint-steps {stored_steps}"
        )
    steps = stored_steps or paint_steps
    if steps is None:
        steps = 64
        notes.append(
            f"{kind.name} checkpoints do not record the number of steps: painting {steps} "
            "(pass --paint-steps to choose)"
        )
    projection = weights["wide_net.0.weight"].shape[0] if "wide_net.0.weight" in weights else 0
    return Architecture(
        latent_dim=latent_dim,
        hidden_size=hidden,
        num_layers=num_layers,
        steps=steps,
        side=side,
        channels=channels,
        rate_size=rate_size,
        code_size=code_size,
        input_size=input_size,
        init_state_from_latent="latent_to_init.weight" in weights,
        step_embedding="decoder_time_enc" in weights,
        projection_size=projection,
        learned_canvas="learned_init" in weights,
        unet_width=unet_width,
        unet_multipliers=multipliers,
        notes=notes,
    )


def generator_config(kind: ModelType, arch: Architecture, flags: FpainterFlags) -> GeneratorConfig:
    """The fpa generator that computes what the authors' generator computes."""
    if flags.value_tanh and not kind.value_tanh:
        raise FpainterImportError(
            f"--value-tanh: the authors' {kind.name} generator has no value tanh (--val_tanh)"
        )
    # What reaches the refiner (or is the image): tanh(M_T) or M_T, as [0, 1] pixels.
    squash = flags.unet_tanh if kind.unet else flags.out_tanh
    painter_options: dict[str, Any] = {
        "hidden_size": arch.hidden_size,
        "num_layers": arch.num_layers,
        "input_mode": kind.input_mode,
        "init_state_from_latent": arch.init_state_from_latent,
    }
    if kind.input_mode == "v2":
        painter_options |= {
            "code_size": arch.code_size,
            "input_size": arch.input_size,
            "code_activation": "tanh" if flags.v2_input_tanh else "none",
        }
    if arch.step_embedding:
        painter_options["step_embedding"] = True
    if arch.projection_size:
        painter_options["projection_size"] = arch.projection_size
    refiner_options: dict[str, Any] = {}
    if kind.unet:
        refiner_options = {
            "width": arch.unet_width,
            "multipliers": list(arch.unet_multipliers),
            "output_tanh": flags.out_tanh,
        }
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
        painter_options=painter_options,
        refiner_options=refiner_options,
    )


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


def fpa_state(
    weights: dict[str, Tensor], kind: ModelType, arch: Architecture, target: dict[str, Tensor]
) -> dict[str, Tensor]:
    """The authors' generator weights under fpa's names, checked name by name and shape by shape."""
    mapped: dict[str, Tensor] = {}
    unplaced = []
    for key, tensor in weights.items():
        if ALIASES.fullmatch(key):
            continue
        for pattern, template in kind.table:
            match = re.fullmatch(pattern, key)
            if match:
                name = template(match) if callable(template) else match.expand(template)
                transform = TRANSFORMS.get(name)
                mapped[name] = transform(tensor, arch) if transform else tensor
                break
        else:
            unplaced.append(key)
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
    for name, tensor in mapped.items():
        if tensor.shape != target[name].shape:
            raise FpainterImportError(
                f"the checkpoint's {name} has shape {tuple(tensor.shape)}; the fpa generator "
                f"for these sizes needs {tuple(target[name].shape)}"
            )
    return {name: tensor.to(target[name].dtype) for name, tensor in mapped.items()}


# --------------------------------------------------------------------------- the API
@dataclass
class FpainterImport:
    """An imported model: the generator ``G`` and its EMA copy ``GE`` as fpa generators."""

    model_type: str
    config: GeneratorConfig
    generator: FastWeightPainter
    ema_generator: FastWeightPainter
    flags: FpainterFlags
    notes: list[str]
    provenance: dict[str, Any]
    run_dir: Path | None = None


def load_fpainter(
    path: str | Path,
    *,
    model_type: str,
    image_size: int | None = None,
    paint_steps: int | None = None,
    flags: FpainterFlags | None = None,
) -> FpainterImport:
    """Read an authors' checkpoint into fpa generators (eval mode, CPU); writes nothing.

    ``image_size`` and ``paint_steps`` are read from the weights where they are stored, and
    must agree when given; ``flags`` are the authors' training flags (not stored).
    """
    kind = find_model_type(model_type)
    flags = flags or FpainterFlags()
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
    aux_input = part(gan, "D").get("to_shape_disc_out.0.weight")  # Conv2d(channels, 64, 3)
    hint = aux_input.shape[1] if aux_input is not None and aux_input.dim() == 4 else None
    try:
        arch = read_architecture(
            weights, kind, image_size=image_size, paint_steps=paint_steps, channels_hint=hint
        )
    except (KeyError, IndexError) as error:  # a damaged or hand-edited state dict
        raise FpainterImportError(
            f"{path}: the {kind.name} generator's weights are incomplete or misshapen "
            f"({type(error).__name__}: {error_summary(error)})"
        ) from None
    config = generator_config(kind, arch, flags)
    models = []
    for source in (weights, ema_weights):
        generator = FastWeightPainter(config=config)
        generator.load_state_dict(fpa_state(source, kind, arch, generator.state_dict()))
        models.append(generator.eval())
    discriminator_tensors = len(part(gan, "D"))
    notes = [
        *arch.notes,
        f"discriminator: not imported ({discriminator_tensors} tensors); the authors' D differs "
        "from fpa's lightgan (no blur, an extra local attention branch, a nearest-resized "
        "auxiliary input), so the run holds a freshly initialised fpa discriminator",
    ]
    provenance = {
        "source": SOURCE,
        "model_type": kind.name,
        "file": Path(path).name,
        "sha256": file_sha256(Path(path)),
        "authors_version": state.get("version") if isinstance(state.get("version"), str) else "",
        "flags": asdict(flags),
        "discriminator_imported": False,
    }
    return FpainterImport(
        model_type=kind.name,
        config=config,
        generator=models[0],
        ema_generator=models[1],
        flags=flags,
        notes=notes,
        provenance=provenance,
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def import_fpainter(
    path: str | Path,
    *,
    model_type: str,
    out: str | Path,
    image_size: int | None = None,
    paint_steps: int | None = None,
    flags: FpainterFlags | None = None,
    overwrite: bool = False,
) -> FpainterImport:
    """Import an authors' checkpoint into the fpa run directory ``out``.

    The run holds ``config.toml`` (a TrainConfig of the architecture with the paper-64
    preset's training recipe) and ``checkpoints/latest.pt`` (``generator`` = their G,
    ``ema_generator`` = their GE, a fresh lightgan ``discriminator``, no optimiser state). A
    folder that holds anything is refused unless it holds a run and ``overwrite``; everything
    is built and checked before a file is written, and written in a hidden folder first.
    """
    out = Path(out)
    run_dir = RunDir(out)
    # One writer per run folder, as for training: --overwrite must not remove the files of a
    # run another process is training.
    with RunLock(out):
        run_dir.check(resume=False, overwrite=overwrite)
        imported = load_fpainter(
            path, model_type=model_type, image_size=image_size, paint_steps=paint_steps, flags=flags
        )
        config_toml, checkpoint = run_files(imported)
        run_dir.start(config_toml=config_toml, checkpoint=checkpoint, replace=overwrite)
    imported.run_dir = out
    return imported


def run_files(imported: FpainterImport) -> tuple[str, bytes]:
    """``config.toml`` text and ``latest.pt`` bytes of the imported run."""
    train_config = resolve_config(
        preset_name="paper-64",
        overrides={"generator": imported.config.to_dict(), "train_steps": 0},
    )
    try:
        discriminator = fresh_discriminator(train_config)
    except ConfigError:  # lightgan takes sides from 16 to 256; the small one takes the rest
        train_config = train_config.with_overrides({"discriminator": "small"})
        discriminator = fresh_discriminator(train_config)
    state = model_state(
        train_config,
        generator=imported.generator,
        ema_generator=imported.ema_generator,
        discriminator=discriminator,
    )
    state["imported_from"] = imported.provenance
    return train_config.to_toml(), checkpoint_bytes(state)


def fresh_discriminator(config: TrainConfig) -> torch.nn.Module:
    """A freshly initialised discriminator, the same every time (the global RNG is kept)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return config.build_discriminator()
