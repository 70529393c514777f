"""Progress display: a rich progress bar, or plain log lines in quiet mode."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

SCORES = ("fid", "kid")


class ProgressReporter:
    """Shows step, images/s, the G and D losses and the time left.

    ``shown=False`` shows nothing at all: under torchrun only rank 0 reports progress.
    """

    def __init__(
        self, *, total: int, start: int, quiet: bool, every: int, shown: bool = True
    ) -> None:
        self.total, self.quiet, self.every, self.shown = total, quiet, every, shown
        self.console = Console(stderr=True)
        self.bar = None
        if shown and not quiet:
            self.bar = Progress(
                TextColumn("[bold]training"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]:>6.1f} img/s"),
                TextColumn("D {task.fields[loss_d]:.3f}  G {task.fields[loss_g]:.3f}"),
                TextColumn("{task.fields[scores]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
            )
            self.task = self.bar.add_task(
                "train", total=total, completed=start, rate=0.0, loss_d=0.0, loss_g=0.0, scores=""
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
        evaluated = [name for name in SCORES if name in metrics]
        if evaluated:  # the latest FID/KID (``--eval-every``) stays shown until the next
            self.scores = "  ".join(f"{name.upper()} {metrics[name]:.4g}" for name in evaluated)
        if self.bar is not None:
            self.bar.update(
                self.task,
                completed=step,
                rate=rate,
                loss_d=loss_d,
                loss_g=loss_g,
                scores=self.scores,
            )
        elif self.shown and (step % self.every == 0 or step == self.total or evaluated):
            line = f"step {step}/{self.total}  {rate:.1f} img/s  D {loss_d:.3f}  G {loss_g:.3f}"
            self.console.print(f"{line}  {self.scores}".rstrip(), highlight=False)
