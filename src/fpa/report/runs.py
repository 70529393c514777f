"""What a report shows of each run, read from its folder (config, metrics, sample grids, the
latest checkpoint), and the runs of an ``fpa ablate`` folder with its table and contact sheet."""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from fpa.ablation.report import TABLE_JSON
from fpa.ablation.runner import SHEET_FILE
from fpa.errors import ConfigError, error_summary
from fpa.generator import FastWeightPainter
from fpa.runs.checkpoint import load_generator
from fpa.runs.run_dir import CONFIG, METRICS_FILE, SAMPLES, RunDir
from fpa.viz.figure import painting_frames
from fpa.viz.interpolate import animation_bytes

SAMPLE_FILE = re.compile(r"step_(\d+)\.png")
# The painting animation: this many samples, about this many frames, each pixel enlarged.
ANIMATED_SAMPLES = 8
ANIMATION_FRAMES = 16
ANIMATION_SCALE = 3
ANIMATION_SEED = 0


@dataclass
class RunRecord:
    """One run as the report shows it."""

    name: str
    folder: Path
    config_toml: str
    steps: list[dict[str, Any]]
    evals: list[dict[str, Any]]
    samples: list[tuple[int, bytes]]
    animation: bytes | None
    # Lines of metrics.jsonl that could not be read (damaged or edited), left out.
    skipped_lines: int = 0

    def series(self, key: str) -> tuple[list[int], list[float]]:
        """The steps and values of one logged number (a step's or an evaluation's)."""
        records = self.evals if key in {"fid", "kid", "kid_std"} else self.steps
        kept = [r for r in records if isinstance(r.get(key), int | float)]
        return [int(r["step"]) for r in kept], [float(r[key]) for r in kept]

    def best(self, key: str) -> tuple[int, float] | None:
        """The step and value of the lowest score ``key``, or ``None`` if never measured."""
        steps, values = self.series(key)
        if not values:
            return None
        index = min(range(len(values)), key=values.__getitem__)
        return steps[index], values[index]


@dataclass
class AblationRecord:
    """An ``fpa ablate`` folder's table (``results.json`` rows) and contact sheet."""

    folder: Path
    rows: list[dict[str, Any]]
    contact_sheet: bytes | None


@dataclass
class Collection:
    runs: list[RunRecord] = field(default_factory=list)
    ablations: list[AblationRecord] = field(default_factory=list)


def chosen_samples(folder: Path, count: int) -> list[tuple[int, bytes]]:
    """Up to ``count`` sample grids spread evenly over the run, the first and last included."""
    found = sorted(
        (int(match.group(1)), path)
        for path in (folder / SAMPLES).glob("step_*.png")
        if (match := SAMPLE_FILE.fullmatch(path.name))
    )
    if len(found) > count:
        last = len(found) - 1
        picked = sorted({round(i * last / max(count - 1, 1)) for i in range(count)})
        found = [found[i] for i in picked]
    return [(step, path.read_bytes()) for step, path in found]


def painting_animation(folder: Path) -> bytes | None:
    """A GIF of the latest EMA generator painting a few fixed latents, step by step; ``None``
    for a baseline (it does not paint)."""
    generator = load_generator(folder, ema=True)
    if not isinstance(generator, FastWeightPainter):
        return None
    z = torch.randn(
        ANIMATED_SAMPLES,
        generator.latent_dim,
        generator=torch.Generator().manual_seed(ANIMATION_SEED),
    )
    every = max(1, generator.paint_steps // ANIMATION_FRAMES)
    frames = painting_frames(generator, z, every=every)
    return animation_bytes(frames, format="gif", duration_ms=120, scale=ANIMATION_SCALE)


def read_run(folder: Path, *, name: str, samples: int, animation: bool) -> RunRecord:
    run_dir = RunDir(folder)
    if not (folder / CONFIG).is_file():
        raise ConfigError(f"{folder} holds no fpa run (no {CONFIG}); give a run or ablate folder")
    records, skipped = run_dir.read_metrics_counted()
    if skipped:
        warnings.warn(
            f"{folder / METRICS_FILE}: skipped {skipped} unreadable line"
            f"{'s' if skipped > 1 else ''} (not UTF-8, not a JSON object, or no whole step)",
            stacklevel=2,
        )
    return RunRecord(
        name=name,
        folder=folder,
        config_toml=(folder / CONFIG).read_text(encoding="utf-8"),
        steps=[r for r in records if "event" not in r],
        evals=[r for r in records if r.get("event") == "eval"],
        samples=chosen_samples(folder, samples),
        animation=painting_animation(folder)
        if animation and run_dir.latest_checkpoint.is_file()
        else None,
        skipped_lines=skipped,
    )


def ablation_rows(table: Path) -> list[dict[str, Any]]:
    """The rows of an ablation's ``results.json``, each naming its cell; anything else is one
    error naming the file."""
    try:
        rows = json.loads(table.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as error:  # not UTF-8, not JSON, nested too deeply
        raise ConfigError(f"{table} is not readable JSON: {error_summary(error)}") from None
    if not isinstance(rows, list) or not all(
        isinstance(row, dict) and isinstance(row.get("name"), str) for row in rows
    ):
        raise ConfigError(f"{table} is not an ablation table: a list of rows, each with a name")
    return rows


def collect(paths: list[Path], *, samples: int = 6, animation: bool = True) -> Collection:
    """The runs of ``paths``: each a run folder, or an ablate folder standing for its cells."""
    collection = Collection()
    for path in paths:
        path = Path(path)
        if not path.is_dir():
            raise ConfigError(f"{path} is not a folder; give run folders or an ablate folder")
        table = path / TABLE_JSON
        if table.is_file() and not (path / CONFIG).is_file():
            rows = ablation_rows(table)
            sheet = path / SHEET_FILE
            collection.ablations.append(
                AblationRecord(path, rows, sheet.read_bytes() if sheet.is_file() else None)
            )
            for cell in (path / row["name"] for row in rows):
                collection.runs.append(
                    read_run(
                        cell, name=f"{path.name}/{cell.name}", samples=samples, animation=animation
                    )
                )
        else:
            collection.runs.append(
                read_run(path, name=path.name, samples=samples, animation=animation)
            )
    names = [run.name for run in collection.runs]
    for index, run in enumerate(collection.runs):  # two folders of one name: tell them apart
        if names.count(run.name) > 1:
            run.name = f"{run.name} ({index + 1})"
    return collection
