"""What a run is on disk, below everything that makes or reads one: its config as stored (a
checkpoint and a model folder hold one), its checkpoints, its folder and lock, the model
folder format a trained generator is shared in, and the one loader of a saved generator.
Training, evaluation, ablation and the importer all use this package; it imports none of
them. The presets and the deciding of a new run live beside the loop, in
:mod:`fpa.training`.
"""

from fpa.runs.checkpoint import (
    CheckpointError,
    find_checkpoint,
    load_checkpoint,
    load_generator,
)
from fpa.runs.config import TrainConfig
from fpa.runs.run_dir import RunDir

__all__ = [
    "CheckpointError",
    "RunDir",
    "TrainConfig",
    "find_checkpoint",
    "load_checkpoint",
    "load_generator",
]
