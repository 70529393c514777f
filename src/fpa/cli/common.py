"""What the commands that use a trained generator share: loading it, latents, checks."""

from __future__ import annotations

from pathlib import Path

import torch

from fpa.devices import resolve_device
from fpa.errors import ConfigError
from fpa.generator import FastWeightPainter


def load_generator_for_cli(
    path: Path, *, device: str = "auto", ema: bool = True
) -> FastWeightPainter:
    """The generator of a run directory or checkpoint on the chosen device, in eval mode."""
    from fpa.training.checkpoint import load_generator

    return load_generator(path, ema=ema, device=resolve_device(device))


def require_painter(generator, *, what: str) -> FastWeightPainter:
    """Painting steps exist only for painters; a baseline generator has none to show."""
    if not isinstance(generator, FastWeightPainter):
        raise ConfigError(
            f"{what} shows painting steps, and this run trained the baseline "
            f"{generator.config.baseline!r}, not a painter; use fpa sample"
        )
    return generator


def read_latents(path: Path, *, latent_dim: int) -> torch.Tensor:
    """Latents ``(N, latent_dim)`` from a ``.pt`` (a tensor) or ``.npy`` file."""
    if not path.is_file():
        raise ConfigError(f"latents file {path} does not exist")
    if path.suffix == ".npy":
        import numpy as np

        try:
            latents = torch.from_numpy(np.load(path, allow_pickle=False)).float()
        except ValueError as error:
            raise ConfigError(f"{path} is not a plain .npy array: {error}") from None
    elif path.suffix == ".pt":
        try:
            latents = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:
            raise ConfigError(f"{path} is not a readable tensor file: {error}") from None
        if not isinstance(latents, torch.Tensor):
            raise ConfigError(f"{path} must hold one tensor of latents")
        latents = latents.float()
    else:
        raise ConfigError(f"latents must be a .pt or .npy file; got {path.name}")
    if latents.dim() == 1:
        latents = latents.unsqueeze(0)
    if latents.dim() != 2 or latents.shape[1] != latent_dim:
        raise ConfigError(
            f"{path} holds latents of shape {tuple(latents.shape)}; this generator needs "
            f"(N, {latent_dim})"
        )
    return latents


def seeded_latents(generator: FastWeightPainter, n: int, seed: int) -> torch.Tensor:
    """``n`` standard normal latents from ``seed`` (the same on every device)."""
    return torch.randn(n, generator.latent_dim, generator=torch.Generator().manual_seed(seed))


def chosen_latents(
    generator: FastWeightPainter, *, latents: Path | None, n: int, seed: int
) -> torch.Tensor:
    """Latents from a file when one is given, else ``n`` seeded ones."""
    if latents is not None:
        return read_latents(latents, latent_dim=generator.latent_dim)
    return seeded_latents(generator, n, seed)


def require_positive(option: str, value: int) -> int:
    if value < 1:
        raise ConfigError(f"{option} must be at least 1; got {value}")
    return value


def require_writable_folder(path: Path) -> Path:
    """The folder a file will be written into must exist (nothing is created half-way)."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ConfigError(f"cannot write {path}: folder {folder} does not exist")
    return path
