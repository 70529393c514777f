"""Latents in files, as ``fpa sample --save-latents`` writes them and ``--latents`` reads
them: ``.npy`` (a NumPy array, never a pickle) or ``.pt`` (a torch tensor, read with
``weights_only``), ``(N, latent_dim)`` real numbers, read back exactly as written. A ``.npy``
file's header is checked against the file's size and this machine's memory before its array
is allocated.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from fpa.errors import ConfigError, error_summary
from fpa.files import atomic_write, load_tensors
from fpa.limits import FLOAT_BYTES, check_memory

LATENT_FORMATS = (".npy", ".pt")


def latents_format(path: Path, *, option: str = "latents") -> str:
    """``.npy`` (a NumPy array) or ``.pt`` (a torch tensor), by the file's extension."""
    suffix = path.suffix.lower()
    if suffix not in LATENT_FORMATS:
        raise ConfigError(f"{option} must be a .npy or .pt file; got {path.name}")
    return suffix


def write_latents(path: Path, latents: torch.Tensor) -> Path:
    """Write latents ``(N, latent_dim)`` atomically in the format the extension names, so that
    :func:`read_latents` (``--latents``) reads them back exactly."""
    suffix = latents_format(path, option="--save-latents")
    latents = latents.detach().float().cpu()
    if suffix == ".npy":
        import numpy as np

        return atomic_write(path, lambda file: np.save(file, latents.numpy(), allow_pickle=False))
    return atomic_write(path, lambda file: torch.save(latents.clone(), file))


def read_latents(path: Path, *, latent_dim: int) -> torch.Tensor:
    """Latents ``(N, latent_dim)`` of real numbers, N ≥ 1, from a ``.pt`` (a tensor) or
    ``.npy`` file; a ``.npy`` file's header is checked against its size and this machine's
    memory before its array is read."""
    if not path.is_file():
        raise ConfigError(f"latents file {path} does not exist")
    if latents_format(path) == ".npy":
        import numpy as np

        check_npy_header(path)
        try:
            array = np.load(path, allow_pickle=False)
            if not isinstance(array, np.ndarray):  # a zip archive: .npz, or a torch file
                raise ValueError("it holds an archive, not one array (a torch file? name it .pt)")
        except (ValueError, TypeError, OSError, EOFError) as error:
            raise ConfigError(
                f"{path} is not a plain .npy array of numbers: {error_summary(error)}"
            ) from None
        check_real(path, str(array.dtype), array.dtype.kind in "biuf")
        latents = torch.from_numpy(np.array(array, dtype=np.float32))
    else:
        try:
            latents = load_tensors(path)
        except Exception as error:
            raise ConfigError(
                f"{path} is not a readable tensor file: {error_summary(error)}"
            ) from None
        if not isinstance(latents, torch.Tensor):
            raise ConfigError(f"{path} must hold one tensor of latents")
        real = not (latents.is_complex() or latents.dtype == torch.bool)
        check_real(path, str(latents.dtype).removeprefix("torch."), real)
        latents = latents.float()
    if latents.dim() == 1:
        latents = latents.unsqueeze(0)
    if latents.dim() != 2 or latents.shape[1] != latent_dim:
        raise ConfigError(
            f"{path} holds latents of shape {tuple(latents.shape)}; this generator needs "
            f"(N, {latent_dim})"
        )
    if len(latents) == 0:
        raise ConfigError(f"{path} holds no latents (shape {tuple(latents.shape)}); give N ≥ 1")
    return latents


def check_real(path: Path, dtype: str, real: bool) -> None:
    """Latents are real numbers: complex ones would lose their imaginary part unsaid."""
    if not real:
        raise ConfigError(f"{path} holds {dtype} values; latents must be real numbers")


def check_npy_header(path: Path) -> None:
    """Refuse a ``.npy`` file whose header claims more values than the file holds, or more
    than this machine's memory, before NumPy allocates them."""
    import numpy as np

    try:
        with path.open("rb") as file:
            if file.read(len(np.lib.format.MAGIC_PREFIX)) != np.lib.format.MAGIC_PREFIX:
                return  # not a .npy array (an archive, a torch file): np.load says which
            file.seek(0)
            version = np.lib.format.read_magic(file)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read_header(file)
            offset = file.tell()
    except (ValueError, TypeError, OSError, EOFError) as error:
        raise ConfigError(
            f"{path} is not a plain .npy array of numbers: {error_summary(error)}"
        ) from None
    count = math.prod(shape)
    need = count * dtype.itemsize
    check_memory(
        count * FLOAT_BYTES,
        what=f"the latents of shape {tuple(shape)} that {path} claims",
        device="cpu",
        advice="give fewer latents",
    )
    have = path.stat().st_size - offset
    if need > have:
        raise ConfigError(
            f"{path} claims latents of shape {tuple(shape)} ({need:,} bytes) in its header, "
            f"and holds {have:,} bytes: it is truncated or damaged"
        )
