"""Checkpoints: written atomically, read with ``weights_only=True`` (never executes code).

A checkpoint is a dict of tensors and plain values: the models, the EMA generator, both
optimisers, the gradient scaler, the step, every random state, the config, the fpa version and
which plugin provided each named component, so that a resume is exact and a missing plugin can
be named.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from fpa.baselines.generator import BaselineConfig, BaselineGenerator
from fpa.errors import FpaError
from fpa.files import atomic_write_bytes
from fpa.generator import FastWeightPainter, GeneratorConfig
from fpa.plugins import registry

FORMAT = "fpa-checkpoint"
FORMAT_VERSION = 1
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


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` atomically: a crash mid-save leaves the previous file intact."""
    return atomic_write_bytes(path, checkpoint_bytes(state))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint safely; any problem becomes one readable CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (
        pickle.UnpicklingError,
        RuntimeError,
        EOFError,
        zipfile.BadZipFile,
        ValueError,
    ) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"{path} is not a readable fpa checkpoint (corrupt, truncated, or holding more "
            f"than tensors and plain values): {reason}"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an fpa checkpoint")
    if state.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was written by a newer fpa ({state.get('fpa_version')}); upgrade fpa"
        )
    return state


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


def check_components(state: dict[str, Any], path: Path) -> None:
    """Refuse, with an install hint, a checkpoint whose components are not registered here."""
    current = registry()
    for kind, origin in state.get("components", {}).items():
        if origin["name"] not in current.components.get(kind, {}):
            distribution = origin.get("distribution")
            hint = (
                f"; install it with: pip install {distribution}"
                if distribution and distribution != "fpa"
                else ""
            )
            raise CheckpointError(
                f"{path} needs {kind[:-1]} {origin['name']!r} from "
                f"{distribution or 'a plugin registered at runtime'}, which is not installed{hint}"
            )


def generator_from_config(data: dict[str, Any]) -> FastWeightPainter | BaselineGenerator:
    """Rebuild a checkpoint's generator from its saved config: a painter, or a baseline (whose
    config names the registered baseline)."""
    if "baseline" in data:
        return BaselineGenerator(config=BaselineConfig.from_dict(data))
    return FastWeightPainter(config=GeneratorConfig.from_dict(data))


def load_generator(
    path: str | Path, *, ema: bool = True, device: str | torch.device = "cpu"
) -> FastWeightPainter | BaselineGenerator:
    """The generator of a run directory or checkpoint, in eval mode (EMA weights by default)."""
    checkpoint = find_checkpoint(path)
    state = load_checkpoint(checkpoint)
    check_components(state, checkpoint)
    generator = generator_from_config(state["generator_config"])
    weights = state["ema_generator"] if ema else state["generator"]
    try:
        generator.load_state_dict(weights)
    except RuntimeError as error:
        raise CheckpointError(f"{checkpoint} does not match its own config: {error}") from None
    return generator.to(device).eval()
