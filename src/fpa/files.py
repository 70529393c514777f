"""Atomic file writes (a temporary file beside the target, fsync, then rename), and the one
way fpa reads a file of tensors (``torch.load(weights_only=True)``: never code).

A crash or an error mid-write never leaves a half-written file at the target path, and a good
file already there survives any failure.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from fpa.errors import FpaError


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(file)`` on a temporary file, then move it over ``path`` in one step.

    An ``OSError`` on the way (a full disk, a quota) becomes an :class:`FpaError` that names
    ``path``; the file already at ``path`` is left as it was."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise FpaError(f"cannot write {target}: folder {directory} does not exist")
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
    except OSError as error:
        raise FpaError(f"cannot write {target}: {error.strerror or error}") from error
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o666 & ~current_umask())  # mkstemp makes 0600 files
        os.replace(temporary, target)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):  # a full disk, a quota: name the file, in one line
            raise FpaError(f"cannot write {target}: {error.strerror or error}") from error
        raise
    return target


def current_umask() -> int:
    """The process's file-creation mask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda file: file.write(data))


def load_tensors(path: str | os.PathLike) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)``: tensors and plain values,
    never an object whose unpickling would run code (such a file raises ``UnpicklingError``).

    PyTorch warns, in three lines, about a pickle protocol other than its own before it reads
    or refuses a file; the caller's one-line verdict says all there is to say, so that warning
    is not shown.
    """
    import torch

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
        return torch.load(path, map_location="cpu", weights_only=True)
