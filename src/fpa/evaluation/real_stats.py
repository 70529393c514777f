"""Real-image features, computed once and cached on disk.

A cache file is named by a hash of its key and also stores the key; it is used only when the
stored key equals the one asked for (dataset and its content, resolution, channels, the data
preprocessing version, the extractor and its weights, the image count). A file that cannot be
read, or whose key differs, is rebuilt with a warning, never reused.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fpa.data.cache import cache_dir
from fpa.errors import FpaError
from fpa.evaluation.metrics import FeatureStats
from fpa.files import atomic_write_bytes, load_tensors

# Bump when the path from dataset to extractor input changes, so old caches are rebuilt.
PREPROCESS_VERSION = 1
SUBSET_SEED = 0


@dataclass(frozen=True)
class RealStats:
    """The real side of FID/KID, and whether it came from the cache."""

    stats: FeatureStats
    key: dict[str, Any]
    origin: str  # "cache", "computed", or "rebuilt (<why>)"
    path: Path


def data_fingerprint(data: str) -> str:
    """Built-in names stand for themselves; a folder is summarised by its files' names,
    sizes and modification times, so adding or editing an image invalidates the cache."""
    folder = Path(data).expanduser()
    if not folder.is_dir():
        return data
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            stat = (Path(root) / name).stat()
            relative = os.path.relpath(Path(root) / name, folder)
            digest.update(f"{relative}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return f"folder:{folder.resolve()}:{digest.hexdigest()[:16]}"


def stats_key(
    *, data: str, image_size: tuple[int, int], channels: int, features: str, count: int
) -> dict[str, Any]:
    return {
        "data": data_fingerprint(data),
        "image_size": list(image_size),
        "channels": channels,
        "preprocess": PREPROCESS_VERSION,
        "features": features,
        "count": count,
        "subset_seed": SUBSET_SEED,
    }


def cache_path(key: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    label = "".join(c if c.isalnum() else "-" for c in Path(key["data"]).name)[:40]
    return cache_dir() / "real-stats" / f"{label}-{digest}.pt"


def read_cached(
    path: Path, key: dict[str, Any], *, width: int | None = None
) -> tuple[torch.Tensor | None, str]:
    """The cached features, or ``None`` and why they cannot be used: a file that is not a
    cache, was made for another key, or holds features that are not ``(count, width)`` finite
    floats (``width``: the extractor's feature size, when known)."""
    if not path.is_file():
        return None, "computed"
    try:
        content = load_tensors(path)
        stored_key, features = content["key"], content["features"]
    except Exception as error:
        return None, f"rebuilt (the cache file was unreadable: {type(error).__name__})"
    if not isinstance(stored_key, dict):
        return None, "rebuilt (the cache file held no key)"
    if stored_key != key:
        changed = sorted(k for k in set(key) | set(stored_key) if key.get(k) != stored_key.get(k))
        return None, f"rebuilt (the cache file was made for other {', '.join(changed)})"
    if not isinstance(features, torch.Tensor) or features.dim() != 2:
        return None, "rebuilt (the cache file held no (N, D) table of features)"
    if features.shape[0] != key["count"]:
        return None, "rebuilt (the cache file held the wrong number of features)"
    if width is not None and features.shape[1] != width:
        return None, (
            f"rebuilt (the cache file held features of width {features.shape[1]}, "
            f"not the extractor's {width})"
        )
    if not features.is_floating_point():
        return None, "rebuilt (the cache file held features that are not floating point)"
    if not torch.isfinite(features).all():
        return None, "rebuilt (the cache file held features that are not finite)"
    return features, "cache"


def real_stats(
    key: dict[str, Any],
    compute: Callable[[], torch.Tensor],
    *,
    use_cache: bool = True,
    width: int | None = None,
) -> RealStats:
    """Features for ``key`` from the cache, else ``compute()`` them and write the cache."""
    path = cache_path(key)
    features, origin = read_cached(path, key, width=width) if use_cache else (None, "computed")
    if features is None:
        if origin.startswith("rebuilt"):
            warnings.warn(f"real-image statistics {path}: {origin}", stacklevel=2)
        # Stored as float32; the statistics are always taken from the stored values, so a
        # cached evaluation and a fresh one give the same numbers.
        features = compute().float().cpu()
        if use_cache:
            write_cache(path, key, features)
    return RealStats(stats=FeatureStats.of(features), key=key, origin=origin, path=path)


def write_cache(path: Path, key: dict[str, Any], features: torch.Tensor) -> None:
    buffer = io.BytesIO()
    torch.save({"key": key, "features": features}, buffer)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buffer.getvalue())
    except (OSError, FpaError) as error:
        warnings.warn(f"could not write the statistics cache {path}: {error}", stacklevel=3)
