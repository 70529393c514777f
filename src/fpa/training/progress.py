"""Progress display: a rich progress bar on a terminal, else plain log lines flushed at once."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Column

SCORES = ("fid", "kid")
# The first steps after a start or resume (allocation, caches, the first evaluation) are slower
# than the rest; the time left is estimated from the steps after them only.
WARMUP_STEPS = 3
# Steps timed after the warm-up before the time left is shown at all.
TIMED_STEPS = 5
# Terminals at least this wide also draw the bar.
WIDE = 100


class TimeLeft:
    """The time left, from the mean wall time per step since a short warm-up (evaluations and
    checkpoints included, spread over the steps); ``None`` until enough steps are timed.

    With a time ``budget`` (seconds of training time, as ``train(time_budget=...)`` counts
    it) the run may stop sooner: the budget's rest, in wall time at the rate training time
    has been passing, caps the estimate.
    """

    def __init__(
        self,
        *,
        total: int,
        start: int,
        budget: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.start, self.budget, self.clock = total, start, budget, clock
        self.mark: tuple[int, float, float] | None = None
        self.last = start

    def update(self, step: int, trained: float = 0.0) -> float | None:
        """The estimate after ``step``, ``trained`` being the run's training time so far."""
        now = self.clock()
        if step <= self.last:  # rolled back by a NaN restart: time the steps from here
            self.mark = (step, now, trained)
        self.last = step
        if self.mark is None:
            if step - self.start >= WARMUP_STEPS:
                self.mark = (step, now, trained)
            return None
        timed = step - self.mark[0]
        if timed < TIMED_STEPS:
            return None
        wall = now - self.mark[1]
        left = wall / timed * max(self.total - step, 0)
        if self.budget is not None:
            training = trained - self.mark[2]
            wall_per_training = wall / training if training > 0 else 1.0
            left = min(left, max(self.budget - trained, 0.0) * wall_per_training)
        return left


def whole() -> Column:
    """A progress column whose text is never cut or wrapped."""
    return Column(no_wrap=True)


def rate_text(images_per_second: float) -> str:
    """Images per second with one decimal below 100, whole above."""
    return f"{images_per_second:.1f}" if images_per_second < 100 else f"{images_per_second:.0f}"


def clock_text(seconds: float | None) -> str:
    """``h:mm:ss``, or ``-:--:--`` when unknown."""
    if seconds is None:
        return "-:--:--"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class ProgressReporter:
    """Shows step, images/s, the G and D losses, the latest scores and the time left.

    A progress bar on a terminal; plain lines every ``every`` steps (and at each evaluation
    and the last step) when ``quiet`` or when stderr is not a terminal (a log file, a pipe),
    each flushed as it is written. ``shown=False`` shows nothing at all: under torchrun only
    rank 0 reports progress. A time ``budget`` caps the time left (:class:`TimeLeft`).
    """

    def __init__(
        self,
        *,
        total: int,
        start: int,
        quiet: bool,
        every: int,
        shown: bool = True,
        budget: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        console: Console | None = None,
    ) -> None:
        self.total, self.every, self.shown = total, every, shown
        self.console = console or Console(stderr=True)
        self.plain = quiet or not (self.console.is_terminal or self.console.is_jupyter)
        self.time_left = TimeLeft(total=total, start=start, budget=budget, clock=clock)
        self.bar = None
        if shown and not self.plain:
            # Every number stays whole in 80 columns: the bar itself is drawn only where there
            # is room for it, and the scores' cell wraps onto a second line before anything
            # is cut.
            drawn = [BarColumn(bar_width=20)] if self.console.width >= WIDE else []
            self.bar = Progress(
                *drawn,
                MofNCompleteColumn(table_column=whole()),
                TextColumn("{task.fields[rate]} img/s", table_column=whole()),
                TextColumn(
                    "D {task.fields[loss_d]:.3f} G {task.fields[loss_g]:.3f}", table_column=whole()
                ),
                TextColumn("{task.fields[scores]}", table_column=Column()),
                TimeElapsedColumn(table_column=whole()),
                TextColumn("ETA {task.fields[eta]}", table_column=whole()),
                console=self.console,
                get_time=clock,
            )
            self.task = self.bar.add_task(
                "train",
                total=total,
                completed=start,
                rate=rate_text(0.0),
                loss_d=0.0,
                loss_g=0.0,
                scores="",
                eta=clock_text(None),
            )
        self.scores = ""

    def __enter__(self) -> ProgressReporter:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self.bar is not None:
            self.bar.stop()

    def update(self, step: int, metrics: dict[str, float]) -> None:
        rate, loss_d, loss_g = metrics["images_per_s"], metrics["loss_d"], metrics["loss_g"]
        left = self.time_left.update(step, metrics.get("elapsed_s", 0.0))
        evaluated = [name for name in SCORES if name in metrics]
        if evaluated:  # the latest FID/KID (``eval_every``) stays shown until the next
            self.scores = "  ".join(f"{name.upper()} {metrics[name]:.4g}" for name in evaluated)
        if self.bar is not None:
            self.bar.update(
                self.task,
                completed=step,
                rate=rate_text(rate),
                loss_d=loss_d,
                loss_g=loss_g,
                scores=self.scores,
                eta=clock_text(left),
            )
        elif self.shown and (step % self.every == 0 or step == self.total or evaluated):
            line = f"step {step}/{self.total}  {rate:.1f} img/s  D {loss_d:.3f}  G {loss_g:.3f}"
            if self.scores:
                line += f"  {self.scores}"
            if left is not None:
                line += f"  ETA {clock_text(left)}"
            self.console.print(line, highlight=False, markup=False, soft_wrap=True)
            self.console.file.flush()
