"""GAN training of fast weight painters: config, presets, the loop, checkpoints, run folders.

``fpa.training.train(config, out=...)`` is what ``fpa train`` calls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fpa.errors import ConfigError
from fpa.training.checkpoint import CheckpointError, find_checkpoint, load_checkpoint
from fpa.training.config import PAINTER_FIELDS, RESUMABLE_FIELDS, TrainConfig
from fpa.training.loop import Trainer, TrainingDivergedError, TrainResult
from fpa.training.presets import PRESETS, resolve_config
from fpa.training.progress import ProgressReporter
from fpa.training.run_dir import RunDir
from fpa.training.stopping import stop_on_signals

__all__ = [
    "PRESETS",
    "CheckpointError",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingDivergedError",
    "describe",
    "prepare_run",
    "resolve_config",
    "train",
]


def resumed_config(saved: TrainConfig, changes: dict[str, Any]) -> TrainConfig:
    """The saved config with the changes a resume may make; anything else is refused."""
    current = saved.to_dict()
    refused = sorted(
        key
        for key, value in saved.with_overrides(changes).to_dict().items()
        if value != current[key] and key not in RESUMABLE_FIELDS
    )
    if refused:
        raise ConfigError(
            f"a resumed run keeps its config; cannot change {', '.join(refused)} "
            f"(only {', '.join(sorted(RESUMABLE_FIELDS))} may change)"
        )
    return saved.with_overrides(changes)


def painter_of(init_state: dict[str, Any], config: TrainConfig) -> TrainConfig:
    """``config`` with the painting fields of the init checkpoint's run."""
    init = TrainConfig.from_dict(init_state["config"])
    for field_name in ("image_size", "channels"):
        if getattr(init, field_name) != getattr(config, field_name):
            raise ConfigError(
                f"--init-from {config.init_from} was trained with {field_name} "
                f"{getattr(init, field_name)}, this run asks for {getattr(config, field_name)}"
            )
    return config.with_overrides({name: getattr(init, name) for name in PAINTER_FIELDS})


def prepare_run(
    config: TrainConfig | None,
    *,
    out: str | Path,
    resume: bool = False,
    overwrite: bool = False,
    changes: dict[str, Any] | None = None,
) -> Trainer:
    """Check the run folder, build the trainer, and restore it when resuming."""
    run_dir = RunDir(out)
    run_dir.check(resume=resume, overwrite=overwrite)
    state = None
    if resume:
        state = load_checkpoint(run_dir.latest_checkpoint)
        saved = TrainConfig.from_dict(state["config"])
        requested = dict(changes or {})
        if config is not None:
            requested = {**config.to_dict(), **requested}
        config = resumed_config(saved, requested)
    else:
        config = (config or TrainConfig()).with_overrides(changes or {})
    init_state = None
    if state is None and config.init_from:
        init_state = load_checkpoint(find_checkpoint(config.init_from))
        config = painter_of(init_state, config)
    trainer = Trainer(config, run_dir)
    if init_state is not None:
        trainer.initialize_from(init_state)
    if state is not None:
        trainer.load_state(state)
    run_dir.create(replace=overwrite and not resume)
    if state is not None:
        run_dir.truncate_metrics(trainer.step)
    run_dir.write_config(config.to_toml())
    return trainer


def train(
    config: TrainConfig | None = None,
    *,
    out: str | Path,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    **changes: Any,
) -> TrainResult:
    """Train (or resume) a run in ``out``; Ctrl-C/SIGTERM save a checkpoint and return."""
    trainer = prepare_run(config, out=out, resume=resume, overwrite=overwrite, changes=changes)
    c = trainer.config
    quiet = c.quiet or not progress
    reporter = ProgressReporter(
        total=c.train_steps, start=trainer.step, quiet=quiet, every=c.sample_every
    )
    with stop_on_signals() as stop, reporter:
        result = trainer.run(stop_requested=stop, on_step=reporter.update)
    return result


def describe(config: TrainConfig) -> dict[str, Any]:
    """Model sizes for a config, without loading data or training (``--dry-run``)."""
    from fpa.generator import FastWeightPainter
    from fpa.plugins import build_discriminator

    generator = FastWeightPainter(config=config.generator_config())
    discriminator = build_discriminator(
        config.discriminator,
        image_size=config.image_size,
        channels=config.channels,
        **config.discriminator_options,
    )

    def count(module) -> int:
        return sum(p.numel() for p in module.parameters())

    return {
        "generator": count(generator),
        "painter": count(generator.painter),
        "head": count(generator.head),
        "refiner": count(generator.refiner),
        "discriminator": count(discriminator),
    }
