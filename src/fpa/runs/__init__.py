"""What a run is, below everything that makes or reads one: its config (with presets), its
checkpoints and its folder. Training, evaluation, ablation and the importer all use this
package; it imports none of them.
"""

from fpa.runs.checkpoint import (
    CheckpointError,
    find_checkpoint,
    load_checkpoint,
    load_generator,
)
from fpa.runs.config import TrainConfig
from fpa.runs.presets import PRESETS, resolve_config
from fpa.runs.run_dir import RunDir

__all__ = [
    "PRESETS",
    "CheckpointError",
    "RunDir",
    "TrainConfig",
    "find_checkpoint",
    "load_checkpoint",
    "load_generator",
    "resolve_config",
]
