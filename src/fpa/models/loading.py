"""``fpa.load`` and what every command that uses a trained generator loads: a run folder, a
checkpoint, a model folder, or the name of a registered model (docs/design.md §9)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fpa.devices import resolve_device
from fpa.errors import ConfigError, did_you_mean
from fpa.plugins import build, registry
from fpa.runs.checkpoint import find_checkpoint, load_generator_and_state
from fpa.runs.config import GeneratorModule, TrainConfig
from fpa.runs.model_folder import ModelFolderError, is_model_folder, load_model_folder


@dataclass(frozen=True)
class LoadedModel:
    """A generator and what the commands need to know of where it came from: the file or
    folder read, the data it trained on, its step, and a run's fixed latents (``None`` for a
    model folder or an imported checkpoint)."""

    generator: GeneratorModule
    origin: Path
    data: str
    data_root: str | None
    step: int
    fixed_latents: torch.Tensor | None


def locate(source: str | Path) -> Path:
    """The path ``source`` names: a path that exists, else the folder of the registered model
    of that name."""
    path = Path(source)
    if path.exists():
        return path
    name = str(source)
    models = registry().components["models"]
    if name not in models:
        known = sorted(models)
        raise ModelFolderError(
            f"{path} does not exist (expected a run directory, a checkpoint, a model folder or "
            f"a model's name{did_you_mean(name, known)}; models: "
            f"{', '.join(known) or 'none registered'})"
        )
    folder = build("models", name)
    if not isinstance(folder, (str, Path)) or not is_model_folder(Path(folder)):
        raise ModelFolderError(
            f"model {name!r} ({models[name].origin}) names {folder}, which is not a model folder"
        )
    return Path(folder)


def open_model(
    source: str | Path, *, ema: bool = True, device: str | torch.device = "cpu"
) -> LoadedModel:
    """Load the generator of ``source`` (run, checkpoint, model folder or model name) in eval
    mode on ``device`` (a name such as ``auto``, or a device); ``ema=False`` takes a run's raw
    weights (a model folder has only the EMA generator). Loading never runs code from the
    files."""
    path = locate(source)
    device = resolve_device(device) if isinstance(device, str) else device
    if is_model_folder(path):
        if not ema:
            raise ConfigError(f"{path} is a model folder: it holds the EMA weights only")
        generator, config = load_model_folder(path, device=device)
        training = config["training"]
        return LoadedModel(
            generator=generator,
            origin=path,
            data=str(training.get("data", "")),
            data_root=None,
            step=int(training.get("step", 0)),
            fixed_latents=None,
        )
    generator, state = load_generator_and_state(path, ema=ema, device=device)
    trained = TrainConfig.from_dict(state["config"])
    return LoadedModel(
        generator=generator,
        origin=find_checkpoint(path),
        data=str(trained.data),
        data_root=trained.data_root or None,
        step=state["step"],
        fixed_latents=run_fixed_latents(state, generator),
    )


def run_fixed_latents(state: dict[str, Any], generator: GeneratorModule) -> torch.Tensor | None:
    """A checkpoint's fixed latents (those of its sample grids), or None when it has none
    that fit the generator (an imported checkpoint)."""
    fixed = state.get("fixed_latents")
    if not isinstance(fixed, torch.Tensor) or fixed.dim() != 2:
        return None
    if fixed.shape[1] != generator.latent_dim:
        return None
    return fixed.detach().float().cpu()


def load(
    source: str | Path, *, ema: bool = True, device: str | torch.device = "cpu"
) -> GeneratorModule:
    """The generator of a run folder, checkpoint, model folder, or registered model (by name,
    e.g. ``fpa.load("digits")``), in eval mode, ready to sample: its weights need no
    gradients (``requires_grad_()`` asks for them again, to train it further)."""
    return open_model(source, ema=ema, device=device).generator.requires_grad_(False)
