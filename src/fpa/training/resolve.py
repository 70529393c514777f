"""One function decides a run: :func:`decide_run` turns what was asked for (a preset, a config
file or a config, overrides, ``--init-from``, ``--resume``) and what the data and the runs it
starts from hold into the final, frozen :class:`~fpa.runs.config.TrainConfig`, with the reason
for each value it inferred.

``fpa train`` (and ``--dry-run``), ``fpa ablate`` (each cell), ``fpa.train`` and
:func:`fpa.training.prepare_run` all decide through it, so the same inputs give the same run
whichever way it starts; the :class:`~fpa.training.loop.Trainer` trains the config as decided.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from fpa.data import build_dataset, data_is_grey
from fpa.data.labels import ClassLabels, class_labels
from fpa.errors import ConfigError
from fpa.runs.checkpoint import find_checkpoint, load_checkpoint
from fpa.runs.config import OWN_GENERATOR_FIELDS, RESUMABLE_FIELDS, TrainConfig
from fpa.runs.run_dir import RunDir
from fpa.training.presets import RunRequest, setting_names

# Built-in data whose channels are the user's (or the preset's) choice alone: the digits are
# grey, and the emoji train in grey unless asked (the cpu-emoji preset asks for colour).
FIXED_COLOURS = ("mnist", "emoji")

# What of a run's picture the --init-from run decides, unless it is asked for.
PICTURE = ("image_size", "channels")

# Why a run that names no preset starts from the one it does (training/presets.py: default_preset).
PICKED_BECAUSE = {
    "cpu-emoji": ", the colour recipe, since the run paints in colour",
    "cpu-demo": ", the default for grey pictures",
}

# Reads a checkpoint file; prepare_run passes one that keeps what it read, to use it after.
ReadCheckpoint = Callable[[Path], dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class ResolvedRun:
    """A decided run: its final config, and why each value that was not asked for was chosen
    (by setting name, e.g. ``"channels": "3 (the images of DATA are in colour; ...)"``)."""

    config: TrainConfig
    reasons: dict[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """The reasons as ``name: why`` lines, in the order they were decided."""
        return [f"{name}: {why}" for name, why in self.reasons.items()]


def decide_run(
    request: RunRequest,
    *,
    resume_from: str | Path | None = None,
    read_checkpoint: ReadCheckpoint = load_checkpoint,
) -> ResolvedRun:
    """The run ``request`` asks for, decided: resumed from the run in ``resume_from`` (its own
    config with the changes a resume may make), or new (layers, then the data's channels, the
    ``--init-from`` run's picture and painter, the data's classes). Raises a one-line
    ConfigError for what the run would refuse."""
    if resume_from is not None:
        return resumed_run(request, RunDir(resume_from), read_checkpoint)
    return new_run(request, read_checkpoint)


def resumed_run(request: RunRequest, run_dir: RunDir, read: ReadCheckpoint) -> ResolvedRun:
    """The saved config of the run in ``run_dir`` with the changes asked for; a change to a
    setting a resume keeps is refused (:data:`~fpa.runs.config.RESUMABLE_FIELDS`)."""
    if request.preset_name or request.config_file:
        raise ConfigError("--resume continues with the run's own config; drop --preset/--config")
    if not run_dir.latest_checkpoint.is_file():
        raise ConfigError(f"cannot resume: {run_dir.root} holds no checkpoint to resume from")
    state = read(run_dir.latest_checkpoint)
    if "optimizer_g" not in state:
        raise ConfigError(
            f"{run_dir.root} holds no training state (an imported model?), so it cannot be "
            f"resumed; fine-tune it with: fpa train --init-from {run_dir.root} "
            "--reset-discriminator"
        )
    saved = TrainConfig.from_dict(state["config"])
    requested = dict(request.overrides)
    if request.base is not None:
        requested = {**request.base.to_dict(), **requested}
    # Nothing is inferred: the run's own config, as --resume asks.
    return ResolvedRun(config=resumed_config(saved, requested))


def resumed_config(saved: TrainConfig, changes: dict[str, Any]) -> TrainConfig:
    """The saved config with the changes a resume may make; anything else is refused."""
    current = saved.settings()
    refused = sorted(
        key
        for key, value in saved.with_overrides(changes).settings().items()
        if value != current.get(key) and key not in RESUMABLE_FIELDS
    )
    if refused:
        raise ConfigError(
            f"a resumed run keeps its config; cannot change {', '.join(refused)} "
            f"(only {', '.join(sorted(RESUMABLE_FIELDS))} may change)"
        )
    return saved.with_overrides(changes)


def new_run(request: RunRequest, read: ReadCheckpoint) -> ResolvedRun:
    """A new run's config, built once. The request as asked is read first (what it cannot be
    is refused before any data or run is read); then what the run takes from the run it starts
    from (its picture and painter), from its data's colours, its preset and its data's classes
    is gathered, with the reasons; then the config is built and checked with all of it."""
    asked = request.config()
    inferred: dict[str, Any] = {}
    reasons: dict[str, str] = {}
    if asked.init_from:
        init = TrainConfig.from_dict(read(find_checkpoint(asked.init_from))["config"])
        inferred, reasons = painter_of(init, asked, named=setting_names(request.overrides))
    elif "channels" not in request.chosen() and asked.data not in FIXED_COLOURS:
        inferred["channels"], reasons["channels"] = data_channels(asked)
    decided = request.with_overrides(inferred)
    picked = decided.picked()
    if picked and not request.config_file:  # a config file states its own settings
        why = PICKED_BECAUSE.get(picked, "")
        reasons["preset"] = f"{picked}{why} (--preset NAME takes another)"
    if asked.conditional:
        channels = inferred.get("channels", asked.channels)
        found, reasons["classes"] = classes_of(asked, channels=channels, given=request.base is None)
        decided = decided.with_overrides(found)
    return ResolvedRun(config=decided.config(), reasons=reasons)


def painter_of(
    init: TrainConfig, asked: TrainConfig, *, named: set[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The settings of a run that starts from the ``--init-from`` run ``init``: that run's
    generator settings (except the ones a run keeps as its own: the refiner it trains, the
    rule's implementation), and why for the picture's. The picture is that run's unless
    ``named`` (then it must be the same: another size or colour is refused)."""
    for name in PICTURE:
        if name in named and getattr(init, name) != getattr(asked, name):
            raise ConfigError(
                f"--init-from {asked.init_from} was trained with {name} "
                f"{getattr(init, name)}, this run asks for {getattr(asked, name)}"
            )
    because = f"(as the --init-from run {asked.init_from} paints)"
    reasons = {
        name: f"{shown(name, getattr(init, name))} {because}"
        for name in PICTURE
        if name not in named
    }
    painting = {
        item.name: getattr(init.generator, item.name)
        for item in fields(init.generator)
        if item.name not in OWN_GENERATOR_FIELDS
    }
    return painting, reasons


def shown(name: str, value: Any) -> str:
    """A picture setting as a reason shows it (``64x64`` for a size)."""
    return "x".join(map(str, value)) if name == "image_size" else str(value)


def data_channels(config: TrainConfig) -> tuple[int, str]:
    """The channels of the run's data (1 for grey images, 3 for colour), and why."""
    grey = data_is_grey(
        config.data,
        image_size=config.image_size,
        root=config.data_root or None,
        download=config.download,
    )
    channels = 1 if grey else 3
    kind = "grey" if grey else "in colour"
    return channels, f"{channels} (the images of {config.data} are {kind}; --channels sets them)"


def data_classes(config: TrainConfig, *, channels: int) -> ClassLabels:
    """The classes of the run's data, read as the run will read them (at ``channels``)."""
    dataset = build_dataset(
        config.data,
        image_size=config.image_size,
        channels=channels,
        root=config.data_root or None,
        download=config.download,
    )
    return class_labels(dataset)


def classes_of(config: TrainConfig, *, channels: int, given: bool) -> tuple[dict[str, Any], str]:
    """A new conditional run's classes: its data's names and shares (as settings), and why.
    Classes ``given`` in the options are refused (they come from the data); a whole config's
    classes must be its data's."""
    if config.generator.classes and given:
        raise ConfigError(
            f"a new --conditional run takes its classes from its data ({config.data}); "
            "drop classes and class_frequencies from the options"
        )
    classes = data_classes(config, channels=channels)
    if config.generator.classes:
        check_classes(config, classes)
        return {}, f"{len(classes.names)}, as the config names them"
    found = {"classes": list(classes.names), "class_frequencies": list(classes.frequencies)}
    why = f"{len(classes.names)} (those of {config.data}, with their shares; --conditional)"
    return found, why


def check_classes(config: TrainConfig, classes: ClassLabels) -> None:
    """Refuse data whose classes are not the ones the run's config names."""
    named = config.generator.classes
    if named != classes.names:
        raise ConfigError(
            f"this run was trained on {len(named)} classes ({', '.join(named[:5])}, ...), its "
            f"data now has {len(classes.names)} ({', '.join(classes.names[:5])}, ...)"
        )
