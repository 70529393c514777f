"""``fpa report``: one self-contained HTML page of runs and ablations (docs/design.md §8)."""

from __future__ import annotations

from pathlib import Path

from fpa.files import atomic_write_bytes
from fpa.report.page import page
from fpa.report.runs import Collection, RunRecord, collect

__all__ = ["Collection", "RunRecord", "collect", "write_report"]


def write_report(paths: list[Path], *, out: Path, samples: int = 6, animation: bool = True) -> Path:
    """Write the report of the runs (or ablate folders) ``paths`` to ``out``, atomically."""
    collection = collect(paths, samples=samples, animation=animation)
    names = ", ".join(run.name for run in collection.runs)
    text = page(collection, title=f"fpa report: {names}")
    out.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(out, text.encode("utf-8"))
