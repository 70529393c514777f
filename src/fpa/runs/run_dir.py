"""A run directory: resolved config, metrics log, sample grids and checkpoints.

```
RUN/config.toml            the resolved TrainConfig
RUN/metrics.jsonl          one JSON object per logged step
RUN/samples/step_000250.png, latest.png    EMA samples from fixed latents
RUN/checkpoints/latest.pt, step_000500.pt, best.pt (with --eval-every)
RUN/logs/tensorboard, RUN/logs/wandb       what the chosen loggers write (--log)
```
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from fpa.errors import ConfigError, FpaError
from fpa.files import atomic_write_bytes
from fpa.runs.checkpoint import BEST, CHECKPOINT_DIR, LATEST
from fpa.runs.config import TrainConfig
from fpa.runs.lock import LOCK_FILE

# What an atomic write killed before its rename (``kill -9`` mid-save) leaves beside its target:
# ``.latest.pt.k3x9_a2q``, the name and tempfile.mkstemp's eight random characters.
TEMPORARY = re.compile(r"\..+\.(?:pt|png|toml|jsonl|json)\.[a-z0-9_]{8}")

CONFIG = "config.toml"
METRICS_FILE = "metrics.jsonl"
SAMPLES = "samples"
LOGS = "logs"
RUN_FILES = (CONFIG, METRICS_FILE, SAMPLES, CHECKPOINT_DIR, LOGS)


def metrics_record(line: bytes) -> dict[str, Any] | None:
    """One line of ``metrics.jsonl`` as a record, or None when it cannot be one."""
    try:
        record = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(record, dict):
        return None
    step = record.get("step", 0)
    if isinstance(step, bool) or not isinstance(step, int):
        return None
    return record


class RunDir:
    """Paths and writes of one run; every file is written atomically."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def latest_checkpoint(self) -> Path:
        return self.root / CHECKPOINT_DIR / LATEST

    @property
    def best_checkpoint(self) -> Path:
        return self.root / CHECKPOINT_DIR / BEST

    def checkpoint_at(self, step: int) -> Path:
        return self.root / CHECKPOINT_DIR / f"step_{step:06d}.pt"

    def logger_folder(self, name: str) -> Path:
        """Where the logger ``name`` writes (``RUN/logs/NAME``); part of the run, so that
        ``--overwrite`` replaces it with the rest."""
        return self.root / LOGS / name

    @property
    def metrics_file(self) -> Path:
        return self.root / METRICS_FILE

    def holds_a_run(self) -> bool:
        return any((self.root / name).exists() for name in RUN_FILES)

    def check(self, *, resume: bool, overwrite: bool) -> None:
        """Refuse a folder that does not fit the intent (new run, resume, overwrite); writes
        nothing, so a run that fails to start leaves the folder as it was."""
        if resume and overwrite:
            raise ConfigError("--resume and --overwrite contradict each other; choose one")
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(f"--out {self.root} is a file, not a folder")
        if resume:
            if not self.latest_checkpoint.is_file():
                raise ConfigError(f"cannot resume: {self.root} holds no checkpoint to resume from")
            return
        if self.root.is_dir() and any(e.name != LOCK_FILE for e in self.root.iterdir()):
            if not self.holds_a_run():
                raise ConfigError(
                    f"--out {self.root} is not empty and holds no fpa run; choose another folder"
                )
            if not overwrite:
                raise ConfigError(
                    f"--out {self.root} already holds a run; pass --resume to continue it or "
                    "--overwrite to replace it"
                )

    def start(self, *, config: TrainConfig, checkpoint: bytes, replace: bool) -> None:
        """Write a new run, trained or imported: its ``config.toml`` (``config``) and first
        checkpoint (:func:`~fpa.runs.checkpoint.checkpoint_bytes`), made in a hidden folder beside
        the run and moved into place only when whole. With ``replace``, the previous run's
        files are removed at that moment, not before: a run that fails to start (a bad option,
        a broken plugin, a full disk) leaves the previous one as it was."""
        self.root.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{self.root.name}.new-", dir=self.root.parent))
        try:
            (staging / CHECKPOINT_DIR).mkdir()
            (staging / SAMPLES).mkdir()
            atomic_write_bytes(staging / CHECKPOINT_DIR / LATEST, checkpoint)
            atomic_write_bytes(staging / CONFIG, config.to_toml().encode())
            if not self.root.exists():
                os.replace(staging, self.root)
                return
            if replace:
                self.remove_run_files()
            for entry in staging.iterdir():
                os.replace(entry, self.root / entry.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def remove_run_files(self) -> None:
        """Remove the files of the run in this folder, and nothing else in it."""
        for name in RUN_FILES:
            target = self.root / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()

    def remove_temporaries(self) -> list[Path]:
        """Remove the temporary files that writers killed mid-write left in this run (each is
        as big as what it was writing, a checkpoint above all). Only the holder of the run's
        lock may call this: a live writer's temporary files look the same."""
        removed = []
        for folder in (self.root, self.root / CHECKPOINT_DIR, self.root / SAMPLES):
            if not folder.is_dir():
                continue
            for entry in folder.iterdir():
                if TEMPORARY.fullmatch(entry.name) and entry.is_file():
                    entry.unlink(missing_ok=True)
                    removed.append(entry)
        return removed

    def write_config(self, toml_text: str) -> None:
        atomic_write_bytes(self.root / CONFIG, toml_text.encode())

    def append_metrics(self, record: dict[str, Any]) -> None:
        path = self.root / METRICS_FILE
        try:
            with path.open("a") as file:
                file.write(json.dumps(record) + "\n")
        except OSError as error:  # a full disk: a line cut short is dropped when resuming
            raise FpaError(f"cannot write {path}: {error.strerror or error}") from error

    def read_metrics(self) -> list[dict[str, Any]]:
        """The records of ``metrics.jsonl`` that can be used (see :meth:`read_metrics_counted`)."""
        return self.read_metrics_counted()[0]

    def read_metrics_counted(self) -> tuple[list[dict[str, Any]], int]:
        """The usable records of ``metrics.jsonl``, and how many lines were skipped: a line
        cut short by a crash mid-append (a resume rewrites it), or one that is not UTF-8, not
        a JSON object, or whose ``step`` is not a whole number (a damaged or edited log)."""
        path = self.root / METRICS_FILE
        if not path.is_file():
            return [], 0
        records, skipped = [], 0
        for line in path.read_bytes().splitlines():
            if not line.strip():
                continue
            record = metrics_record(line)
            if record is None:
                skipped += 1
            else:
                records.append(record)
        return records, skipped

    def truncate_metrics(self, after_step: int) -> None:
        """Drop records past ``after_step``: a resume rewrites them, so the log stays exact."""
        kept = [r for r in self.read_metrics() if r.get("step", 0) <= after_step]
        atomic_write_bytes(
            self.root / METRICS_FILE, "".join(json.dumps(r) + "\n" for r in kept).encode()
        )

    def write_samples(self, step: int, png: bytes) -> Path:
        """Write a step's sample grid and ``latest.png`` (the folder is made again if a user
        removed it from a run being resumed)."""
        (self.root / SAMPLES).mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.root / SAMPLES / f"step_{step:06d}.png", png)
        return atomic_write_bytes(self.root / SAMPLES / "latest.png", png)
