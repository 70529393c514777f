"""GAN training of fast weight painters: the presets and requests a run starts from
(``presets.py``), how a run is decided from them (``resolve.py``), the loop, and starting,
resuming and finishing a run in its folder.

``fpa.training.train(config, out=...)`` is what ``fpa train`` calls; under ``torchrun`` it
joins the process group and trains one model on all the processes (docs/scale-out.md).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import torch

from fpa.errors import ConfigError
from fpa.generator import painting_record
from fpa.runs import CheckpointError, RunDir, TrainConfig
from fpa.runs.checkpoint import find_checkpoint, load_checkpoint
from fpa.runs.checks import check_training_memory
from fpa.runs.lock import RunLock
from fpa.training.distributed import World, per_rank_batch
from fpa.training.loop import Trainer, TrainingDivergedError, TrainResult
from fpa.training.presets import PRESETS, RunRequest, resolve_config
from fpa.training.progress import ProgressReporter
from fpa.training.resolve import ResolvedRun, decide_run
from fpa.training.stopping import stop_on_signals
from fpa.training.telemetry import Telemetry, check_loggers

__all__ = [
    "PRESETS",
    "AlreadyFinishedError",
    "CheckpointError",
    "ResolvedRun",
    "RunRequest",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingDivergedError",
    "World",
    "check_time_budget",
    "decide_run",
    "describe",
    "painting",
    "prepare_run",
    "resolve_config",
    "train",
]


class AlreadyFinishedError(Exception):
    """A resumed run had already reached its ``train_steps``: there is nothing to do."""

    def __init__(self, step: int, elapsed: float) -> None:
        super().__init__(f"the run already finished at step {step}")
        self.step, self.elapsed = step, elapsed


def read_run(
    run_dir: RunDir, request: RunRequest | ResolvedRun, *, resume: bool, overwrite: bool
) -> tuple[ResolvedRun, dict[str, Any] | None, dict[str, Any] | None]:
    """Check the run folder, decide the run (:func:`~fpa.training.resolve.decide_run`; a new
    run already decided is taken as it is) and read what it starts from: the checkpoint to
    resume and the one to initialise from (either may be ``None``); each checkpoint is read
    once."""
    run_dir.check(resume=resume, overwrite=overwrite)
    read = functools.cache(load_checkpoint)
    if isinstance(request, ResolvedRun) and not resume:
        resolved = request
    else:
        if isinstance(request, ResolvedRun):  # a resume checks it against the run's own config
            request = RunRequest(base=request.config)
        resolved = decide_run(
            request, resume_from=run_dir.root if resume else None, read_checkpoint=read
        )
    config = resolved.config
    state = read(run_dir.latest_checkpoint) if resume else None
    init_state = None
    if state is None and config.init_from:
        init_state = read(find_checkpoint(config.init_from))
    return resolved, state, init_state


def run_request(
    config: TrainConfig | RunRequest | ResolvedRun | None, changes: dict[str, Any]
) -> RunRequest | ResolvedRun:
    """What ``train`` and ``prepare_run`` are asked for: a request, or a whole config (or
    none: the default preset), with ``changes`` over it; or a run already decided (an
    ablation's cell), which is not decided again unless ``changes`` change it."""
    if isinstance(config, ResolvedRun):
        if not changes:
            return config
        config = config.config
    request = config if isinstance(config, RunRequest) else RunRequest(base=config)
    return request.with_overrides(changes)


def prepare_run(
    config: TrainConfig | RunRequest | ResolvedRun | None,
    *,
    out: str | Path,
    resume: bool = False,
    overwrite: bool = False,
    changes: dict[str, Any] | None = None,
    world: World | None = None,
    hold: ExitStack | None = None,
) -> Trainer:
    """Check the run folder, decide the run (``config`` and ``changes``, as for
    :func:`train`), build the trainer, and restore it when resuming.

    With ``hold``, rank 0 first takes the run folder's lock (:class:`fpa.runs.lock.RunLock`)
    into that stack, to keep it for the whole run.

    Resuming a run that has reached its ``train_steps`` raises :class:`AlreadyFinishedError` before
    anything is built or written.

    With a ``world`` of several processes (inside its process group), rank 0 alone reads and
    writes the run folder and sends what it read to the others, so nodes need not share a file
    system.
    """
    world = world or World()
    run_dir = RunDir(out)
    request = run_request(config, changes or {})

    def read() -> tuple[ResolvedRun, dict[str, Any] | None, dict[str, Any] | None]:
        if hold is not None:
            hold.enter_context(RunLock(out))
        return read_run(run_dir, request, resume=resume, overwrite=overwrite)

    resolved, state, init_state = world.on_main(read)
    decided = resolved.config
    check_loggers(decided)
    if state is not None and int(state["step"]) >= decided.train_steps:
        raise AlreadyFinishedError(int(state["step"]), float(state["elapsed"]))
    check_training_memory(decided, processes=world.size)  # before any model or data exists
    trainer = Trainer(decided, run_dir, world=world, reasons=resolved.reasons)
    if init_state is not None:
        trainer.state.initialize_from(init_state, source=decided.init_from)
    if state is not None:
        trainer.state.load(state, source=run_dir.latest_checkpoint)
    # Everything is built and tried (the evaluator, one forward and backward) before the
    # folder is touched: a run that fails to start leaves the run it was to replace as it was.
    trainer.prepare_evaluator()
    trainer.rehearse()
    if state is not None:
        if world.is_main:
            run_dir.truncate_metrics(trainer.step)
            run_dir.write_config(decided.to_toml())
            if hold is not None:  # the run's lock is held: no other process writes here
                run_dir.remove_temporaries()
        return trainer
    first = trainer.checkpoint()
    if first is not None:
        run_dir.start(config=decided, checkpoint=first, replace=overwrite)
    return trainer


def check_time_budget(time_budget: float | None) -> None:
    """Refuse a time budget that is not a positive number of seconds (train and ablate); NaN
    would pass a ``<= 0`` check and then never stop the run."""
    if time_budget is not None and not (math.isfinite(time_budget) and time_budget > 0):
        raise ConfigError(f"--time-budget must be positive and finite (seconds); got {time_budget}")


def train(
    config: TrainConfig | RunRequest | ResolvedRun | None = None,
    *,
    out: str | Path,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    time_budget: float | None = None,
    on_start: Callable[[ResolvedRun], None] | None = None,
    **changes: Any,
) -> TrainResult:
    """Train (or resume) a run in ``out``; Ctrl-C/SIGTERM save a checkpoint and return.

    The run is decided by :func:`~fpa.training.resolve.decide_run` from ``config`` (a whole
    config, a :class:`~fpa.training.presets.RunRequest` of a preset and a config file, or None: the
    default preset) with ``changes`` over it, exactly as ``fpa train`` decides it; a
    :class:`~fpa.training.resolve.ResolvedRun` (decide_run's answer, as each cell of ``fpa
    ablate`` holds one) trains as decided. A resume starts from the run's own config, and may
    change only what a resume may.

    ``time_budget`` stops (with a checkpoint, status ``"budget"``) once the run's training
    time, counted over resumes, reaches that many seconds. ``on_start`` is called once, on the
    main process, with the decided run, when the run is in place and about to train (a refused
    run never calls it).

    Started by ``torchrun``, every process calls this: they join one process group and train
    one model, ``batch_size`` being the global batch over all of them.

    Resuming a run that already reached its ``train_steps`` changes nothing and returns
    status ``"already_finished"``.
    """
    check_time_budget(time_budget)
    world = World.from_env()
    request = run_request(config, changes)
    if not resume:  # refuse a batch that does not split before waiting for the other ranks
        per_rank_batch(
            request.config if isinstance(request, ResolvedRun) else request.config(), world
        )
    with world.joined(), ExitStack() as hold:
        try:
            trainer = prepare_run(
                request, out=out, resume=resume, overwrite=overwrite, world=world, hold=hold
            )
        except AlreadyFinishedError as finished:
            return TrainResult(
                RunDir(out).root, finished.step, "already_finished", 0.0, finished.elapsed
            )
        c = trainer.config
        if on_start is not None and world.is_main:
            on_start(ResolvedRun(config=c, reasons=trainer.reasons))
        reporter = ProgressReporter(
            total=c.train_steps,
            start=trainer.step,
            quiet=c.quiet or not progress,
            every=c.log_every,
            shown=world.is_main,
            budget=time_budget,
        )
        # The loggers start once the run folder is in place, on rank 0 (a resume continues
        # their runs from its step); one that cannot start is named and left out.
        telemetry = Telemetry.open(c, trainer.run_dir, step=trainer.step, main=world.is_main)
        trainer.telemetry = telemetry
        with stop_on_signals() as stop, reporter, telemetry:

            def stop_requested() -> bool:
                over_budget = time_budget is not None and trainer.state.elapsed >= time_budget
                return stop() or over_budget

            result = trainer.run(stop_requested=stop_requested, on_step=reporter.update)
            if result.status == "interrupted" and not stop():
                result.status = "budget"
    return result


def painting(config: TrainConfig) -> dict[str, str]:
    """What will paint (:func:`fpa.generator.painting_record`); empty for a baseline."""
    return {} if config.baseline else painting_record(config.generator)


def describe(config: TrainConfig) -> dict[str, Any]:
    """Model sizes for a decided config (a conditional one names its classes), without
    training (``--dry-run``)."""
    check_training_memory(config)  # what the run would refuse, refused before building it
    generator = config.build_generator()
    discriminator = config.build_discriminator()

    def count(module: torch.nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    parts = ("painter", "head", "refiner")
    return {
        "generator": count(generator),
        **{part: count(getattr(generator, part)) for part in parts if hasattr(generator, part)},
        "discriminator": count(discriminator),
    }
