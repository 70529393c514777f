"""``fpa.ablate``: train every cell of a grid on the same budget, score it, tabulate it.

Each cell trains in its own run directory under ``out``. A finished cell writes
``ablation.json`` (its config, scores and timings) and is skipped when the ablation runs
again; an unfinished one resumes from its checkpoint. So an interrupted ablation continues
where it stopped when the same command is run again.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from fpa.ablation.claims import claim, release
from fpa.ablation.grid import Cell, expand
from fpa.ablation.report import contact_sheet, rich_table, write_tables
from fpa.classes import labels_args
from fpa.devices import check_threads, threads_per_job, use_threads
from fpa.errors import ConfigError, FpaError, error_summary
from fpa.evaluation.evaluator import METRICS, Evaluator, check_metrics
from fpa.evaluation.metrics import kid_std_note
from fpa.files import atomic_write_bytes
from fpa.limits import check_eval_images
from fpa.plugins import registry
from fpa.runs.checkpoint import load_generator
from fpa.runs.checks import check_buildable
from fpa.runs.config import RESUMABLE_FIELDS
from fpa.training import TrainConfig, check_time_budget, train
from fpa.training.presets import RunRequest

RESULT_FILE = "ablation.json"
SHEET_FILE = "contact_sheet.png"
SAMPLE_SEED = 12345
# Fields that change where and how a run reports, not what it learns: a finished cell counts
# whatever they were (``train_steps``, which sets the budget, is not among them).
PRESENTATION_FIELDS = RESUMABLE_FIELDS - {"train_steps"}


@dataclass
class AblationResult:
    """The table's rows (one per cell, in grid order) and where the outputs were written."""

    rows: list[dict[str, Any]]
    csv: Path
    json: Path
    contact_sheet: Path


def ablate(
    axes: dict[str, list[Any]],
    *,
    out: str | Path,
    base: TrainConfig | RunRequest | None = None,
    time_budget: float | None = None,
    eval_n: int = 2000,
    metrics: tuple[str, ...] | str = METRICS,
    features: str | None = None,
    inception_weights: str | None = None,
    samples_per_cell: int = 8,
    one_at_a_time: bool = False,
    jobs: int = 1,
    threads: int | None = None,
    progress: bool = True,
    console: Console | None = None,
    poll_seconds: float = 10.0,
) -> AblationResult:
    """Train and score each combination of ``axes`` (e.g. ``{"rule": ["delta", "hebb"]}``)
    applied to ``base`` (a config, or a :class:`~fpa.training.presets.RunRequest` of a preset, a
    config file and overrides; each cell is decided as ``fpa train`` decides a run), or,
    ``one_at_a_time``, the base and each value changed alone; every
    cell gets ``base.train_steps`` steps, or stops early once its training time reaches
    ``time_budget`` seconds. Several processes may run the same ablation at once: each
    trains the cells no other has claimed, and all wait for the rest.

    ``jobs`` > 1 starts that many processes in all (this one included) to share the grid,
    each on ``threads`` CPU threads (default: a fair share of the cores, at least one).
    """
    base = base or TrainConfig()  # a bare config, as before: no preset
    metrics = check_metrics(metrics)
    check_eval_images(eval_n, option="--eval-n")
    if features:
        registry().get("features", features)
    check_time_budget(time_budget)
    cells = expand(base, axes, one_at_a_time=one_at_a_time)
    check_cells(cells)
    share = threads_per_job(jobs)  # checks jobs and threads before any folder is made
    threads = check_threads(threads) if threads is not None else share if jobs > 1 else None
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    console = console or Console(stderr=True)
    work = CellWork(
        cells=cells,
        out=out,
        time_budget=time_budget,
        eval_n=eval_n,
        metrics=metrics,
        features=features,
        inception_weights=inception_weights,
        threads=threads,
    )
    threads_before = torch.get_num_threads()
    try:
        use_threads(threads)
        with helper_jobs(work, count=jobs - 1):
            rows = work.run(
                progress=progress, console=console, wait=True, poll_seconds=poll_seconds
            )
    finally:
        torch.set_num_threads(threads_before)
    table = [rows[cell.name] for cell in cells]
    csv_path, json_path = write_tables(table, out)
    sheet = atomic_write_bytes(out / SHEET_FILE, sheet_of(table, out, samples_per_cell))
    console.print(rich_table(table, title=f"ablation in {out}"))
    notes = {note for row in table if (note := kid_std_note(row["scores"])) is not None}
    for note in sorted(notes):
        console.print(f"note: {note}", highlight=False, markup=False)
    return AblationResult(rows=table, csv=csv_path, json=json_path, contact_sheet=sheet)


@dataclass
class CellWork:
    """What every process sharing an ablation needs to train and score its cells."""

    cells: list[Cell]
    out: Path
    time_budget: float | None
    eval_n: int
    metrics: tuple[str, ...]
    features: str | None
    inception_weights: str | None
    threads: int | None

    def run(
        self, *, progress: bool, console: Console, wait: bool, poll_seconds: float = 10.0
    ) -> dict[str, dict[str, Any]]:
        """Train the cells no live process has claimed; with ``wait``, then wait for (or take
        over) the others' cells. Returns the rows known at the end, by cell name."""
        evaluators: dict[tuple, Evaluator] = {}

        def train_and_score(cell: Cell) -> dict[str, Any]:
            try:
                return run_cell(
                    cell,
                    self.out / cell.name,
                    time_budget=self.time_budget,
                    progress=progress,
                    evaluator=lambda config: shared_evaluator(
                        evaluators,
                        config,
                        self.eval_n,
                        self.metrics,
                        self.features,
                        self.inception_weights,
                    ),
                )
            finally:
                release(self.out, cell.name)

        rows: dict[str, dict[str, Any]] = {}
        waiting: list[Cell] = []
        for number, cell in enumerate(self.cells, start=1):
            prefix = f"[{number}/{len(self.cells)}] {cell.name}"
            row = finished_row(cell, self.out / cell.name)
            if row is not None:
                console.print(f"{prefix}: done before, skipped", highlight=False, markup=False)
                rows[cell.name] = row
            elif claim(self.out, cell.name):
                console.print(f"{prefix}: training", highlight=False, markup=False)
                rows[cell.name] = train_and_score(cell)
            else:
                console.print(f"{prefix}: another process trains it", highlight=False, markup=False)
                waiting.append(cell)
        while wait and waiting:  # cells other processes train: wait for them, or take them over
            time.sleep(poll_seconds)
            for cell in list(waiting):
                row = finished_row(cell, self.out / cell.name)
                if row is None and claim(self.out, cell.name):
                    row = train_and_score(cell)
                if row is not None:
                    rows[cell.name] = row
                    waiting.remove(cell)
        return rows


def helper_job(work: CellWork) -> None:
    """A helper process's share: its own threads, the cells nobody has claimed, no waiting."""
    use_threads(work.threads)
    work.run(progress=False, console=Console(stderr=True), wait=False)


@contextmanager
def helper_jobs(work: CellWork, *, count: int) -> Iterator[None]:
    """Run ``count`` helper processes beside this one while the block runs; they are joined
    (or, if the block fails, stopped) when it ends. A helper's failed cell is released and
    taken over by the waiting main process, which then reports the error itself."""
    context = multiprocessing.get_context("spawn")  # no forked copies of torch's thread pools
    helpers = [context.Process(target=helper_job, args=(work,)) for _ in range(count)]
    for helper in helpers:
        helper.start()
    try:
        yield
    except BaseException:
        for helper in helpers:
            helper.terminate()
        raise
    finally:
        for helper in helpers:
            helper.join()


def check_cells(cells: list[Cell]) -> None:
    """Check every cell (its components, their options, its size) before the first one
    trains: a bad name in the grid's last cell must not cost the training of the others."""
    for cell in cells:
        try:
            check_buildable(cell.config)
        except FpaError as error:
            raise ConfigError(f"ablation cell {cell.name}: {error_summary(error)}") from None


def finished_row(cell: Cell, run_dir: Path) -> dict[str, Any] | None:
    """The cell's saved row if it finished before with the same config; refuse a folder that
    holds a finished run of a different config rather than mixing it into the table."""
    path = run_dir / RESULT_FILE
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):  # unreadable: the cell trains again
        return None
    if not isinstance(saved, dict) or not isinstance(saved.get("row"), dict):
        return None
    if not isinstance(saved.get("config", {}), dict):
        return None
    try:  # read through TrainConfig: fields added to fpa since then take their defaults
        before = TrainConfig.from_dict(saved.get("config", {})).settings()
    except FpaError:
        before = {}
    now = cell.config.settings()
    same = bool(before) and all(
        before[key] == now[key] for key in now if key not in PRESENTATION_FIELDS
    )
    if not same:
        raise ConfigError(
            f"{run_dir} holds a finished run of another configuration; use another --out "
            "or remove that folder"
        )
    return saved["row"]


def shared_evaluator(
    evaluators: dict[tuple, Evaluator],
    config: TrainConfig,
    eval_n: int,
    metrics: tuple[str, ...],
    features: str | None,
    inception_weights: str | None,
) -> Evaluator:
    """One evaluator per (data, size, channels): the real statistics are loaded once."""
    key = (config.data, tuple(config.image_size), config.channels, config.data_root)
    if key not in evaluators:
        evaluators[key] = Evaluator(
            data=config.data,
            image_size=config.image_size,
            channels=config.channels,
            n=eval_n,
            metrics=metrics,
            features=features,
            data_root=config.data_root or None,
            inception_weights=inception_weights,
            device=config_device(config),
        )
    return evaluators[key]


def config_device(config: TrainConfig) -> torch.device:
    from fpa.devices import resolve_device

    return torch.device(resolve_device(config.device))


def run_cell(
    cell: Cell,
    run_dir: Path,
    *,
    time_budget: float | None,
    progress: bool,
    evaluator: Callable[[TrainConfig], Evaluator],
) -> dict[str, Any]:
    """Train (or resume) one cell to its budget, score its EMA generator, save its row."""
    resume = (run_dir / "checkpoints" / "latest.pt").is_file()
    result = train(cell.run, out=run_dir, resume=resume, progress=progress, time_budget=time_budget)
    if result.status == "interrupted":
        raise KeyboardInterrupt
    generator = load_generator(run_dir, ema=True, device=config_device(cell.config))
    config = cell.config
    images = result.step * config.batch_size * config.grad_accum
    row = {
        "name": cell.name,
        "values": cell.values,
        "scores": evaluator(config).score(generator),
        "images_per_s": images / max(result.elapsed_seconds, 1e-9),
        "threads": torch.get_num_threads(),
        "parameters": sum(p.numel() for p in generator.parameters()),
        "wall_s": result.elapsed_seconds,
        "steps": result.step,
        "run_dir": str(run_dir),
    }
    record = {"config": config.to_dict(), "row": row}
    atomic_write_bytes(run_dir / RESULT_FILE, (json.dumps(record, indent=2) + "\n").encode())
    return row


def sheet_of(rows: list[dict[str, Any]], out: Path, count: int) -> bytes:
    """Samples of every cell's EMA generator from the same seeded latents."""
    labelled = []
    for row in rows:
        generator = load_generator(out / row["name"], ema=True)
        latents = torch.randn(
            count, generator.latent_dim, generator=torch.Generator().manual_seed(SAMPLE_SEED)
        )
        # A conditional cell paints its classes in turn, as its sample grids do.
        classes = len(generator.classes)
        labels = torch.arange(count) % classes if classes else None
        with torch.no_grad():
            images = generator(latents, *labels_args(labels))
        scores = "  ".join(
            f"{k.upper()} {v:.3g}" for k, v in row["scores"].items() if k != "kid_std"
        )
        labelled.append((f"{row['name']}  {scores}", images))
    return contact_sheet(labelled)
