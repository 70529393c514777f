"""The report's curves, drawn by matplotlib as inline SVG: vector, offline, and every logged
point kept (no path simplification), so a curve has exactly the points the run logged.

Each line is an SVG group whose id is ``curve:RUN:KEY`` (the best score ``best:RUN:KEY``), so
a reader, or a test, finds a run's curve by name.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from fpa.errors import ConfigError
from fpa.report.runs import RunRecord

MISSING_MATPLOTLIB = "fpa report draws its curves with matplotlib: pip install 'fpa[plots]'"
LABELS = {
    "loss_d": "D loss",
    "loss_g": "G loss",
    "fid": "FID",
    "kid": "KID",
    "images_per_s": "images/s",
}
STYLES = {"loss_d": "-", "loss_g": "--", "fid": "-", "kid": "--", "images_per_s": "-"}


def curve_id(run: str, key: str) -> str:
    return f"curve:{run}:{key}"


def best_id(run: str, key: str) -> str:
    return f"best:{run}:{key}"


def curves_svg(
    runs: Sequence[RunRecord], keys: Sequence[str], *, title: str, ylabel: str, best: bool = False
) -> str | None:
    """One figure of ``keys`` over steps for every run (overlaid, a colour per run, a line
    style per key), as SVG text; ``None`` when no run logged any of them. With ``best`` each
    curve's lowest point is marked and labelled."""
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ConfigError(MISSING_MATPLOTLIB) from error
    drawn = [(run, key) for run in runs for key in keys if run.series(key)[0]]
    if not drawn:
        return None
    salt = f"{title}:{'|'.join(run.name for run in runs)}"
    # Every point drawn; text as text; SVG ids unique to this figure among the page's others.
    with matplotlib.rc_context(
        {"path.simplify": False, "svg.fonttype": "none", "svg.hashsalt": salt}
    ):
        figure = Figure(figsize=(7.2, 3.4), layout="constrained")
        FigureCanvasAgg(figure)
        ax = figure.subplots()
        colours = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
        for index, run in enumerate(runs):
            colour = colours[index % len(colours)]
            for key in keys:
                steps, values = run.series(key)
                if not steps:
                    continue
                label = (
                    LABELS.get(key, key) if len(runs) == 1 else f"{run.name} {LABELS.get(key, key)}"
                )
                (line,) = ax.plot(
                    steps,
                    values,
                    STYLES.get(key, "-"),
                    color=colour,
                    linewidth=1.2,
                    marker="o" if len(steps) <= 20 else None,
                    markersize=3,
                    label=label,
                )
                line.set_gid(curve_id(run.name, key))
                lowest = run.best(key) if best else None
                if lowest is not None:
                    marker = ax.scatter(
                        [lowest[0]], [lowest[1]], s=90, marker="*", color=colour, zorder=3
                    )
                    marker.set_gid(best_id(run.name, key))
                    ax.annotate(
                        f"best {lowest[1]:.4g} @ {lowest[0]}",
                        lowest,
                        textcoords="offset points",
                        xytext=(6, 6),
                        fontsize=8,
                        color=colour,
                    )
        ax.set_title(title)
        ax.set_xlabel("training step")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg")
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # inline: no XML declaration or doctype
