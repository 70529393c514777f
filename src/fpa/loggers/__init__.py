"""Run loggers beside ``metrics.jsonl``: TensorBoard and Weights & Biases, registered through
fpa's own plugin hook like a third party's (docs/design.md §8)."""

from fpa.loggers.tensorboard import TensorBoardLogger
from fpa.loggers.wandb import WandbLogger
from fpa.plugins import hookimpl

__all__ = ["TensorBoardLogger", "WandbLogger"]


@hookimpl
def fpa_register_loggers(register):
    register("tensorboard", TensorBoardLogger)
    register("wandb", WandbLogger)
