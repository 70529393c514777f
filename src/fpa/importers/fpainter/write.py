"""Writing an imported model as an fpa run folder, through the code that writes a training
run's: :class:`~fpa.runs.lock.RunLock` (one writer per folder), :meth:`RunDir.check
<fpa.runs.run_dir.RunDir.check>` and :meth:`RunDir.start <fpa.runs.run_dir.RunDir.start>`
(built in a hidden folder, moved into place whole), and the checkpoint format of
:mod:`fpa.runs.checkpoint` (:func:`~fpa.runs.checkpoint.model_state`,
:func:`~fpa.runs.checkpoint.checkpoint_bytes`).
"""

from __future__ import annotations

from pathlib import Path

import torch

from fpa.errors import ConfigError
from fpa.importers.fpainter.load import FpainterImport, load_fpainter
from fpa.importers.fpainter.mapping import FpainterFlags
from fpa.runs import RunDir, TrainConfig
from fpa.runs.checkpoint import checkpoint_bytes, model_state
from fpa.runs.lock import RunLock
from fpa.training.presets import resolve_config

# The training recipe an imported run is fine-tuned with: the paper's.
PRESET = "paper-64"


def import_fpainter(
    path: str | Path,
    *,
    model_type: str,
    out: str | Path,
    image_size: int | None = None,
    paint_steps: int | None = None,
    flags: FpainterFlags | None = None,
    overwrite: bool = False,
) -> FpainterImport:
    """Import an authors' checkpoint into the fpa run directory ``out``.

    The run holds ``config.toml`` (a TrainConfig of the architecture with the paper-64
    preset's training recipe) and ``checkpoints/latest.pt`` (``generator`` = their G,
    ``ema_generator`` = their GE, a fresh lightgan ``discriminator``, no optimiser state). A
    folder that holds anything is refused unless it holds a run and ``overwrite``; everything
    is built and checked before a file is written, and written in a hidden folder first.
    """
    run_dir = RunDir(out)
    # One writer per run folder, as for training: --overwrite must not remove the files of a
    # run another process is training.
    with RunLock(run_dir.root):
        run_dir.check(resume=False, overwrite=overwrite)
        imported = load_fpainter(
            path, model_type=model_type, image_size=image_size, paint_steps=paint_steps, flags=flags
        )
        config, checkpoint = imported_run(imported)
        run_dir.start(config=config, checkpoint=checkpoint, replace=overwrite)
    imported.run_dir = run_dir.root
    return imported


def imported_run(imported: FpainterImport) -> tuple[TrainConfig, bytes]:
    """The imported run's config and its first checkpoint (``latest.pt``), serialised."""
    config = resolve_config(
        preset_name=PRESET,
        overrides={"generator": imported.config.to_dict(), "train_steps": 0},
    )
    try:
        discriminator = fresh_discriminator(config)
    except ConfigError:  # lightgan takes sides from 16 to 256; the small one takes the rest
        config = config.with_overrides({"discriminator": "small"})
        discriminator = fresh_discriminator(config)
    state = model_state(
        config,
        generator=imported.generator,
        ema_generator=imported.ema_generator,
        discriminator=discriminator,
    )
    state["imported_from"] = imported.provenance
    return config, checkpoint_bytes(state)


def fresh_discriminator(config: TrainConfig) -> torch.nn.Module:
    """A freshly initialised discriminator, the same every time (the global RNG is kept)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return config.build_discriminator()
