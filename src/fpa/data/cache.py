"""Where fpa keeps data on disk, and an atomic writer for cached arrays.

``FPA_CACHE_DIR`` (default ``~/.cache/fpa``) holds derived files that can be rebuilt at any
time, such as rendered emoji. ``FPA_DATA_DIR`` (default ``~/.cache/fpa/datasets``) is where
the torchvision datasets live or are downloaded to.
"""

from __future__ import annotations

import os
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np


def cache_dir() -> Path:
    """The cache directory: ``$FPA_CACHE_DIR`` or ``~/.cache/fpa``."""
    return Path(os.environ.get("FPA_CACHE_DIR") or Path.home() / ".cache" / "fpa").expanduser()


def data_dir() -> Path:
    """The default dataset root: ``$FPA_DATA_DIR`` or ``~/.cache/fpa/datasets``."""
    configured = os.environ.get("FPA_DATA_DIR")
    return Path(configured).expanduser() if configured else cache_dir() / "datasets"


def load_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """Read a cached ``.npz``; ``None`` when it is missing or unreadable (then rebuild it)."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a bare .npy array
            return None
        with loaded as archive:
            return {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        return None


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as a compressed ``.npz`` atomically: a temp file in the same folder,
    then ``os.replace``, so concurrent readers never see half a file. A cache that cannot be
    written (read-only home, full disk) only costs speed, so it warns instead of failing."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                np.savez_compressed(out, **arrays)  # type: ignore[arg-type]
            os.chmod(temp, 0o644)  # mkstemp makes it private; a cache can be shared
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except OSError as error:
        warnings.warn(f"fpa could not write its cache file {path}: {error}", stacklevel=3)
