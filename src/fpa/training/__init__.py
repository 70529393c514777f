"""GAN training of fast weight painters: config, presets, the loop, checkpoints, run folders.

``fpa.training.train(config, out=...)`` is what ``fpa train`` calls; under ``torchrun`` it
joins the process group and trains one model on all the processes (docs/scale-out.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fpa.errors import ConfigError
from fpa.training.checkpoint import CheckpointError, find_checkpoint, load_checkpoint
from fpa.training.config import PAINTER_FIELDS, RESUMABLE_FIELDS, TrainConfig
from fpa.training.distributed import World
from fpa.training.loop import Trainer, TrainingDivergedError, TrainResult, per_rank_batch
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
    "World",
    "check_time_budget",
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


def read_run(
    run_dir: RunDir,
    config: TrainConfig | None,
    *,
    resume: bool,
    overwrite: bool,
    changes: dict[str, Any],
) -> tuple[TrainConfig, dict[str, Any] | None, dict[str, Any] | None]:
    """Check the run folder and read what the run starts from: its config, the checkpoint to
    resume and the checkpoint to initialise from (either may be ``None``)."""
    run_dir.check(resume=resume, overwrite=overwrite)
    state = None
    if resume:
        state = load_checkpoint(run_dir.latest_checkpoint)
        if "optimizer_g" not in state:
            raise ConfigError(
                f"{run_dir.root} holds no training state (an imported model?), so it cannot be "
                f"resumed; fine-tune it with: fpa train --init-from {run_dir.root} "
                "--reset-discriminator"
            )
        saved = TrainConfig.from_dict(state["config"])
        requested = dict(changes)
        if config is not None:
            requested = {**config.to_dict(), **requested}
        config = resumed_config(saved, requested)
    else:
        config = (config or TrainConfig()).with_overrides(changes)
    init_state = None
    if state is None and config.init_from:
        init_state = load_checkpoint(find_checkpoint(config.init_from))
        config = painter_of(init_state, config)
    return config, state, init_state


def prepare_run(
    config: TrainConfig | None,
    *,
    out: str | Path,
    resume: bool = False,
    overwrite: bool = False,
    changes: dict[str, Any] | None = None,
    world: World | None = None,
) -> Trainer:
    """Check the run folder, build the trainer, and restore it when resuming.

    With a ``world`` of several processes (inside its process group), rank 0 alone reads and
    writes the run folder and sends what it read to the others, so nodes need not share a file
    system.
    """
    world = world or World()
    run_dir = RunDir(out)
    config, state, init_state = world.on_main(
        lambda: read_run(run_dir, config, resume=resume, overwrite=overwrite, changes=changes or {})
    )
    trainer = Trainer(config, run_dir, world=world)
    if init_state is not None:
        trainer.initialize_from(init_state)
    if state is not None:
        trainer.load_state(state)
    if world.is_main:
        run_dir.create(replace=overwrite and not resume)
        if state is not None:
            run_dir.truncate_metrics(trainer.step)
        run_dir.write_config(config.to_toml())
    return trainer


def check_time_budget(time_budget: float | None) -> None:
    """Refuse a time budget that is not a positive number of seconds (train and ablate)."""
    if time_budget is not None and time_budget <= 0:
        raise ConfigError(f"--time-budget must be positive; got {time_budget}")


def train(
    config: TrainConfig | None = None,
    *,
    out: str | Path,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    time_budget: float | None = None,
    **changes: Any,
) -> TrainResult:
    """Train (or resume) a run in ``out``; Ctrl-C/SIGTERM save a checkpoint and return.

    ``time_budget`` stops (with a checkpoint, status ``"budget"``) once the run's training
    time, counted over resumes, reaches that many seconds.

    Started by ``torchrun``, every process calls this: they join one process group and train
    one model, ``batch_size`` being the global batch over all of them.
    """
    check_time_budget(time_budget)
    world = World.from_env()
    if not resume:  # refuse a batch that does not split before waiting for the other ranks
        per_rank_batch((config or TrainConfig()).with_overrides(changes), world)
    with world.joined():
        trainer = prepare_run(
            config, out=out, resume=resume, overwrite=overwrite, changes=changes, world=world
        )
        c = trainer.config
        reporter = ProgressReporter(
            total=c.train_steps,
            start=trainer.step,
            quiet=c.quiet or not progress,
            every=c.sample_every,
            shown=world.is_main,
        )
        with stop_on_signals() as stop, reporter:

            def stop_requested() -> bool:
                over_budget = time_budget is not None and trainer.elapsed >= time_budget
                return stop() or over_budget

            result = trainer.run(stop_requested=stop_requested, on_step=reporter.update)
            if result.status == "interrupted" and not stop():
                result.status = "budget"
    return result


def describe(config: TrainConfig) -> dict[str, Any]:
    """Model sizes for a config, without loading data or training (``--dry-run``)."""
    from fpa.plugins import build_discriminator

    generator = config.build_generator()
    discriminator = build_discriminator(
        config.discriminator,
        image_size=config.image_size,
        channels=config.channels,
        **config.discriminator_options,
    )

    def count(module) -> int:
        return sum(p.numel() for p in module.parameters())

    parts = ("painter", "head", "refiner")
    return {
        "generator": count(generator),
        **{part: count(getattr(generator, part)) for part in parts if hasattr(generator, part)},
        "discriminator": count(discriminator),
    }
