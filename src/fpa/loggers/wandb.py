"""Weights & Biases (``pip install 'fpa[wandb]'``); ``WANDB_MODE=offline`` needs no network."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from fpa.errors import ConfigError
from fpa.files import atomic_write_bytes
from fpa.loggers.pictures import png_pixels

# The W&B run id of an fpa run, kept in its logger folder so that a resume continues that run.
RUN_ID_FILE = "run_id"
DEFAULT_PROJECT = "fpa"
HISTOGRAM_BINS = 64


class WandbLogger:
    """One W&B run per fpa run, with the resolved config; project ``$WANDB_PROJECT`` or
    ``fpa``, run name the run folder's. A resume continues the same W&B run id."""

    def __init__(self, *, folder: Path, config: Mapping[str, Any], step: int) -> None:
        try:
            import wandb
        except ImportError as error:
            raise ConfigError(
                "the wandb logger needs Weights & Biases: pip install 'fpa[wandb]'"
            ) from error
        folder.mkdir(parents=True, exist_ok=True)
        id_file = folder / RUN_ID_FILE
        run_id = id_file.read_text().strip() if id_file.is_file() else secrets.token_hex(4)
        atomic_write_bytes(id_file, run_id.encode())
        self.wandb = wandb
        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", DEFAULT_PROJECT),
            id=run_id,
            name=folder.parent.parent.name,
            resume="allow",
            dir=str(folder),
            config=dict(config),
            # fpa's progress bar and log lines stay on the terminal, uncaptured.
            settings=wandb.Settings(console="off", silent=True),
        )
        # W&B refuses a step below the last one it holds: a resumed run starts its records
        # after what the W&B run already has (online; an offline run starts afresh).
        self.first_step = max(step + 1 if step > 0 else 0, int(self.run.step or 0))

    def log_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        if step >= self.first_step:
            self.run.log(dict(scalars), step=step)

    def log_image(self, step: int, tag: str, png: bytes) -> None:
        if step >= self.first_step:
            self.run.log({tag: self.wandb.Image(png_pixels(png))}, step=step)

    def log_histograms(self, step: int, values: Mapping[str, np.ndarray]) -> None:
        if step >= self.first_step:
            histograms = {
                tag: self.wandb.Histogram(np_histogram=np.histogram(data, bins=HISTOGRAM_BINS))
                for tag, data in values.items()
            }
            self.run.log(histograms, step=step)

    def close(self) -> None:
        self.run.finish()
