"""The model folder format: a trained generator that is safe to share (docs/design.md §9).

```
FOLDER/config.json          the generator's config, fpa's version, the plugin behind each part
FOLDER/model.safetensors    the EMA generator's weights (refiner included), safetensors
FOLDER/README.md            the model card, with Hugging Face metadata
FOLDER/samples.png          64 samples from the latents of seed 0
FOLDER/training.toml        the run's resolved training settings
```

Reading one parses JSON and safetensors, never a pickle, so loading runs no code from the
folder. A folder is written whole in a hidden folder beside it and moved into place, so a
failed write never leaves a half-written folder where a good one was.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from fpa._version import __version__
from fpa.errors import FpaError, error_summary
from fpa.files import atomic_write_bytes, current_umask
from fpa.runs.config import GeneratorModule
from fpa.runs.model_layout import (
    CARD_FILE,
    CONFIG_FILE,
    SAMPLES_FILE,
    TRAINING_FILE,
    WEIGHTS_FILE,
)
from fpa.runs.saved import SavedGenerator, newer_format

FORMAT = "fpa-model"
FORMAT_VERSION = 1
# The part of config.json each reader relies on, with its type.
CONFIG_FIELDS: dict[str, type] = {
    "format_version": int,
    "generator": dict,
    "components": dict,
    "training": dict,
}


class ModelFolderError(FpaError):
    """A model folder that cannot be read, used or written; one line says why."""


@dataclass(frozen=True)
class ModelFiles:
    """The contents of a model folder, made in memory before anything is written."""

    config: dict[str, Any]
    weights: dict[str, torch.Tensor]
    card: str
    samples: bytes
    training: str


def model_config(
    generator: GeneratorModule,
    *,
    components: dict[str, dict[str, Any]],
    data: str,
    step: int,
) -> dict[str, Any]:
    """config.json: the format, the generator's config, the plugin and distribution behind
    each of its components, and what it was trained on."""
    painting = getattr(generator, "rule_impl_used", None)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "fpa_version": __version__,
        "generator": generator.config.to_dict(),
        "components": components,
        **({"rule_impl_used": painting} if painting is not None else {}),
        "training": {"data": data, "step": step},
    }


def model_weights(generator: GeneratorModule) -> dict[str, torch.Tensor]:
    """The generator's state as safetensors takes it: contiguous CPU tensors, none sharing
    memory with another."""
    return {
        name: tensor.detach().to("cpu").contiguous().clone()
        for name, tensor in generator.state_dict().items()
    }


def is_model_folder(path: Path) -> bool:
    """Whether ``path`` is a folder with a model folder's config.json."""
    return path.is_dir() and (path / CONFIG_FILE).is_file()


def check_target(folder: Path, *, overwrite: bool) -> None:
    """Refuse, before anything is measured or written, a target that is a file, holds files
    that are not a model folder, or holds a model folder unless ``overwrite``."""
    if folder.exists() and not folder.is_dir():
        raise ModelFolderError(f"{folder} is a file, not a folder")
    if not folder.is_dir() or not any(folder.iterdir()):
        return
    if not is_model_folder(folder):
        raise ModelFolderError(
            f"{folder} is not empty and holds no fpa model folder; choose another folder"
        )
    if not overwrite:
        raise ModelFolderError(
            f"{folder} already holds a model folder; pass --overwrite to replace it"
        )


def write_model_folder(folder: Path, files: ModelFiles, *, overwrite: bool = False) -> Path:
    """Write ``files`` as the model folder ``folder``: made whole in a hidden folder beside
    it, then moved into place; an existing model folder is replaced only at that moment, and
    put back if the move fails."""
    check_target(folder, overwrite=overwrite)
    try:
        encoded = save_safetensors(files.weights, metadata={"format": "pt", "fpa": FORMAT})
    except (ValueError, TypeError, SafetensorError) as error:
        raise ModelFolderError(
            f"cannot write {folder / WEIGHTS_FILE}: {error_summary(error)}"
        ) from None
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.new-", dir=folder.parent))
    try:
        atomic_write_bytes(staging / WEIGHTS_FILE, encoded)
        config_text = json.dumps(files.config, indent=2) + "\n"
        atomic_write_bytes(staging / CONFIG_FILE, config_text.encode())
        atomic_write_bytes(staging / CARD_FILE, files.card.encode())
        atomic_write_bytes(staging / SAMPLES_FILE, files.samples)
        atomic_write_bytes(staging / TRAINING_FILE, files.training.encode())
        os.chmod(staging, 0o777 & ~current_umask())  # mkdtemp makes 0700 folders
        replace_folder(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def replace_folder(new: Path, target: Path) -> None:
    """Move ``new`` to ``target``; a folder already there is moved aside first and removed
    once ``new`` is in place (or moved back if that fails)."""
    if not target.exists():
        os.replace(new, target)
        return
    old = target.parent / f".{target.name}.old-{secrets.token_hex(4)}"
    os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def read_config(folder: Path) -> dict[str, Any]:
    """A model folder's config.json, checked for what the readers rely on."""
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise ModelFolderError(f"{folder} is not an fpa model folder: it has no {CONFIG_FILE}")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ModelFolderError(f"{path} is not readable JSON: {error_summary(error)}") from None
    except RecursionError:
        raise ModelFolderError(
            f"{path} is not readable JSON: it is nested too deeply to be a model config"
        ) from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFolderError(f"{path} is not the config of an fpa model folder")
    for name, expected in CONFIG_FIELDS.items():
        if isinstance(config.get(name), bool) or not isinstance(config.get(name), expected):
            raise ModelFolderError(
                f"{path} is not a usable model config: its {name!r} is missing or not a "
                f"{expected.__name__}"
            )
    if config["format_version"] > FORMAT_VERSION:
        raise ModelFolderError(newer_format(path, config, FORMAT_VERSION))
    return config


def read_weights(folder: Path) -> dict[str, torch.Tensor]:
    """model.safetensors as a dict of tensors (safetensors holds nothing else)."""
    path = folder / WEIGHTS_FILE
    if not path.is_file():
        raise ModelFolderError(f"{folder} is not a complete model folder: it has no {WEIGHTS_FILE}")
    try:
        return load_safetensors(path.read_bytes())
    except (OSError, SafetensorError, ValueError, RuntimeError) as error:
        raise ModelFolderError(
            f"{path} is not a readable safetensors file (corrupt or truncated): "
            f"{error_summary(error)}"
        ) from None


def load_model_folder(
    folder: Path, *, device: str | torch.device = "cpu"
) -> tuple[GeneratorModule, dict[str, Any]]:
    """The generator of a model folder in eval mode, and its config.json."""
    config = read_config(folder)
    saved = SavedGenerator(
        config=config["generator"],
        components=config["components"],
        weights=lambda: read_weights(folder),
        source=folder,
        weights_file=folder / WEIGHTS_FILE,
        config_key="generator",
        config_name=CONFIG_FILE,
        unusable=f"{folder / CONFIG_FILE} is not a usable model config",
        error=ModelFolderError,
    )
    return saved.load(device=device), config
