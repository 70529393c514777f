"""A run directory: resolved config, metrics log, sample grids and checkpoints.

```
RUN/config.toml            the resolved TrainConfig
RUN/metrics.jsonl          one JSON object per logged step
RUN/samples/step_000250.png, latest.png    EMA samples from fixed latents
RUN/checkpoints/latest.pt, step_000500.pt, best.pt (with --eval-every)
```
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from fpa.errors import ConfigError
from fpa.files import atomic_write_bytes
from fpa.training.checkpoint import BEST, CHECKPOINT_DIR, LATEST

CONFIG = "config.toml"
METRICS = "metrics.jsonl"
SAMPLES = "samples"
RUN_FILES = (CONFIG, METRICS, SAMPLES, CHECKPOINT_DIR)


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
        if self.root.is_dir() and any(self.root.iterdir()):
            if not self.holds_a_run():
                raise ConfigError(
                    f"--out {self.root} is not empty and holds no fpa run; choose another folder"
                )
            if not overwrite:
                raise ConfigError(
                    f"--out {self.root} already holds a run; pass --resume to continue it or "
                    "--overwrite to replace it"
                )

    def create(self, *, replace: bool) -> None:
        """Make the folders; with ``replace``, first remove the previous run's files."""
        if replace:
            for name in RUN_FILES:
                target = self.root / name
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
        (self.root / CHECKPOINT_DIR).mkdir(parents=True, exist_ok=True)
        (self.root / SAMPLES).mkdir(parents=True, exist_ok=True)

    def write_config(self, toml_text: str) -> None:
        atomic_write_bytes(self.root / CONFIG, toml_text.encode())

    def append_metrics(self, record: dict[str, Any]) -> None:
        with (self.root / METRICS).open("a") as file:
            file.write(json.dumps(record) + "\n")

    def read_metrics(self) -> list[dict[str, Any]]:
        path = self.root / METRICS
        if not path.is_file():
            return []
        records = []
        for line in path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by a crash mid-append; the resume rewrites it
        return records

    def truncate_metrics(self, after_step: int) -> None:
        """Drop records past ``after_step``: a resume rewrites them, so the log stays exact."""
        kept = [r for r in self.read_metrics() if r.get("step", 0) <= after_step]
        atomic_write_bytes(
            self.root / METRICS, "".join(json.dumps(r) + "\n" for r in kept).encode()
        )

    def write_samples(self, step: int, png: bytes) -> Path:
        atomic_write_bytes(self.root / SAMPLES / f"step_{step:06d}.png", png)
        return atomic_write_bytes(self.root / SAMPLES / "latest.png", png)
