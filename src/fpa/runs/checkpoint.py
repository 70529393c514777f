"""Checkpoints: written atomically, read with ``weights_only=True`` (never executes code).

A checkpoint is a dict of tensors and plain values: the models, the EMA generator, both
optimisers, the gradient scaler, the step, every random state, the config, the fpa version and
which plugin provided each named component, so that a resume is exact and a missing plugin can
be named (docs/design.md §5). Checkpoints of an older ``format_version`` are migrated on load.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fpa._version import __version__
from fpa.errors import FpaError, error_summary, weights_only_refusal
from fpa.files import load_tensors
from fpa.generator import FastWeightPainter
from fpa.plugins import registry
from fpa.runs.config import CONFIG_VERSION, GeneratorModule, TrainConfig, nested
from fpa.runs.saved import SavedGenerator, newer_format

FORMAT = "fpa-checkpoint"
# Version 1: a flat training config, and ``steps`` for T in the generator config. Version 2:
# the generator's settings nested in the training config, and ``paint_steps`` everywhere.
FORMAT_VERSION = CONFIG_VERSION
LATEST = "latest.pt"
BEST = "best.pt"
CHECKPOINT_DIR = "checkpoints"


class CheckpointError(FpaError):
    """A checkpoint that cannot be read or used; the file is left untouched."""


def checkpoint_bytes(state: dict[str, Any]) -> bytes:
    """Serialise ``state`` with the format marker, once, for one or several atomic writes."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, **state}, buffer)
    return buffer.getvalue()


def model_state(
    config: TrainConfig,
    *,
    generator: GeneratorModule,
    ema_generator: nn.Module,
    discriminator: nn.Module,
    step: int = 0,
) -> dict[str, Any]:
    """What every checkpoint holds, trained or imported: the config, the versions, the
    components' origins and the three models' weights. A trained run adds its training state.
    A painter's checkpoint also records ``rule_impl_used``: what painted (``config.rule_impl``
    keeps what was asked; a rule without a parallel form paints with the step loop)."""
    painting = (
        {"rule_impl_used": generator.rule_impl_used}
        if isinstance(generator, FastWeightPainter)
        else {}
    )
    return {
        "fpa_version": __version__,
        "step": step,
        "config": config.to_dict(),
        "generator_config": generator.config.to_dict(),
        "components": component_origins(config.components()),
        "generator": generator.state_dict(),
        "ema_generator": ema_generator.state_dict(),
        "discriminator": discriminator.state_dict(),
        **painting,
    }


def upgrade(state: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint of any older format version as one of this version."""
    version = state.get("format_version", 1)
    if version < 2 and isinstance(state.get("config"), dict):
        state = {**state, "config": nested(state["config"])}
    if version < 2 and isinstance(state.get("generator_config"), dict):
        generator_config = dict(state["generator_config"])
        if "steps" in generator_config:
            generator_config["paint_steps"] = generator_config.pop("steps")
        state = {**state, "generator_config": generator_config}
    return {**state, "format_version": FORMAT_VERSION}


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint safely; any problem becomes one readable CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = load_tensors(path)
    except (
        pickle.UnpicklingError,
        RuntimeError,
        EOFError,
        zipfile.BadZipFile,
        ValueError,
    ) as error:
        raise CheckpointError(unreadable_reason(path, error)) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an fpa checkpoint")
    if not isinstance(state.get("format_version", 0), int):
        raise CheckpointError(
            f"{path} is not an fpa checkpoint (its format_version is not a number)"
        )
    if state.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(newer_format(path, state, FORMAT_VERSION))
    state = upgrade(state)
    validate_checkpoint(state, path)
    return state


# What every fpa checkpoint holds (imported models included), and what one that can be
# resumed holds besides (it has "optimizer_g"), with the type of each entry.
REQUIRED_FIELDS: dict[str, type | tuple[type, ...]] = {
    "step": int,
    "config": dict,
    "generator_config": dict,
    "generator": dict,
    "ema_generator": dict,
    "discriminator": dict,
}
OPTIONAL_FIELDS: dict[str, type | tuple[type, ...]] = {
    "components": dict,
    "fpa_version": str,
    "rule_impl_used": str,
}
TRAINING_FIELDS: dict[str, type | tuple[type, ...]] = {
    "optimizer_g": dict,
    "optimizer_d": dict,
    "scaler_g": dict,
    "scaler_d": dict,
    "data": dict,
    "ema_updates": torch.Tensor,
    "fixed_latents": torch.Tensor,
    "elapsed": (int, float),
    "random": torch.Tensor,
    "torch_rng": torch.Tensor,
    "cuda_rng": list,
}


def validate_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Refuse, naming the file and the field, a checkpoint that read safely but lacks a field
    fpa uses or holds one of the wrong type (a damaged or hand-made file): every consumer
    (sample, evaluate, resume, --init-from) then reads only what it can use."""

    def check(fields: dict[str, type | tuple[type, ...]], *, required: bool) -> None:
        for name, expected in fields.items():
            if name not in state:
                if required:
                    raise CheckpointError(
                        f"{path} is not a usable fpa checkpoint: it lacks {name!r}"
                    )
                continue
            value = state[name]
            if isinstance(value, bool) or not isinstance(value, expected):
                wanted = " or ".join(
                    kind.__name__
                    for kind in (expected if isinstance(expected, tuple) else (expected,))
                )
                raise CheckpointError(
                    f"{path} is not a usable fpa checkpoint: its {name!r} is "
                    f"{type(value).__name__}, not {wanted}"
                )

    check(REQUIRED_FIELDS, required=True)
    check(OPTIONAL_FIELDS, required=False)
    if "optimizer_g" in state:
        check(TRAINING_FIELDS, required=True)
    for kind, origin in state.get("components", {}).items():
        if not isinstance(origin, dict) or not isinstance(origin.get("name"), str):
            raise CheckpointError(
                f"{path} is not a usable fpa checkpoint: its 'components' entry {kind!r} does "
                "not name a component"
            )
    for name in ("generator", "ema_generator", "discriminator"):
        if not all(isinstance(key, str) for key in state[name]):
            raise CheckpointError(
                f"{path} is not a usable fpa checkpoint: its {name!r} is not a state dict"
            )


def unreadable_reason(path: Path, error: BaseException) -> str:
    """Why ``torch.load(weights_only=True)`` refused ``path``, in one line (never PyTorch's
    advice to load it with ``weights_only=False``)."""
    refusal = weights_only_refusal(error)
    if refusal is not None:
        return f"{path} is not a readable fpa checkpoint: {refusal}"
    return f"{path} is not a readable fpa checkpoint (corrupt or truncated): {error_summary(error)}"


def find_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a run directory's latest checkpoint."""
    path = Path(path)
    if path.is_dir():
        latest = path / CHECKPOINT_DIR / LATEST
        if latest.is_file():
            return latest
        raise CheckpointError(f"{path} is not an fpa run directory with a checkpoint")
    if not path.exists():
        raise CheckpointError(f"{path} does not exist (expected a run directory or a checkpoint)")
    return path


def component_origins(names: dict[str, str]) -> dict[str, dict[str, str | None]]:
    """For ``{"rules": "delta", ...}``: which plugin and distribution provide each name."""
    current = registry()
    origins = {}
    for kind, name in names.items():
        component = current.get(kind, name)
        origins[kind] = {
            "name": name,
            "plugin": component.plugin,
            "distribution": component.origin.distribution,
            "version": component.origin.version,
        }
    return origins


def load_generator(
    path: str | Path, *, ema: bool = True, device: str | torch.device = "cpu"
) -> GeneratorModule:
    """The generator of a run directory or checkpoint, in eval mode (EMA weights by default),
    ready to sample (``fpa.load``). Loading never executes code from the file."""
    generator, _ = load_generator_and_state(path, ema=ema, device=device)
    return generator


def load_generator_and_state(
    path: str | Path, *, ema: bool = True, device: str | torch.device = "cpu"
) -> tuple[GeneratorModule, dict[str, Any]]:
    """:func:`load_generator`, and the whole checkpoint it came from (read once)."""
    checkpoint = find_checkpoint(path)
    state = load_checkpoint(checkpoint)
    saved = SavedGenerator(
        config=state["generator_config"],
        components=state.get("components", {}),
        weights=lambda: state["ema_generator" if ema else "generator"],
        source=checkpoint,
        weights_file=checkpoint,
        config_key="generator_config",
        config_name="its own config",
        unusable=f"{checkpoint} is not a usable fpa checkpoint",
        error=CheckpointError,
    )
    return saved.load(device=device), state
