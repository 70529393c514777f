"""TensorBoard event files through ``torch.utils.tensorboard`` (extra ``fpa[tensorboard]``)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from fpa.errors import ConfigError
from fpa.loggers.pictures import png_pixels

# Seconds between flushes of the event file: a run watched live shows its new points this late.
FLUSH_SECONDS = 10


class TensorBoardLogger:
    """Scalars, sample grids and histograms in ``RUN/logs/tensorboard`` for
    ``tensorboard --logdir runs/``; a resume purges what the run logged after its checkpoint."""

    def __init__(self, *, folder: Path, config: Mapping[str, Any], step: int) -> None:
        try:  # torch ships the writer; it needs the tensorboard package to write protobufs
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as error:
            raise ConfigError(
                "the tensorboard logger needs TensorBoard: pip install 'fpa[tensorboard]'"
            ) from error
        folder.mkdir(parents=True, exist_ok=True)
        # The writer's thread would meet a read-only folder later, with a traceback of its own:
        # a file made and removed here makes the logger fail now, in one warning line.
        try:
            tempfile.TemporaryFile(dir=folder).close()
        except OSError as error:
            raise ConfigError(f"cannot write {folder}: {error.strerror or error}") from None
        # Records up to ``step`` are kept (the resume starts after them); TensorBoard drops every
        # event of an earlier session from ``step + 1`` on, which this session writes again.
        self.writer = SummaryWriter(
            log_dir=str(folder),
            purge_step=step + 1 if step > 0 else None,
            flush_secs=FLUSH_SECONDS,
        )
        if step == 0:
            text = json.dumps(dict(config), indent=2, default=str)
            self.writer.add_text("config", "    " + text.replace("\n", "\n    "), 0)

    def log_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, step)

    def log_image(self, step: int, tag: str, png: bytes) -> None:
        self.writer.add_image(tag, png_pixels(png), step, dataformats="HWC")
        self.writer.flush()  # a sample step is rare: show it, and the scalars before it, now

    def log_histograms(self, step: int, values: Mapping[str, np.ndarray]) -> None:
        for tag, data in values.items():
            self.writer.add_histogram(tag, data, step)

    def close(self) -> None:
        self.writer.close()
