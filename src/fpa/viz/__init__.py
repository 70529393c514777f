"""Figures of the painting process, as tensors and PNG/GIF bytes (the CLI only wraps these).

Plots (``command_figures``, ``command_plot_pngs``, ``save_command_plots``) need matplotlib:
``pip install 'fpa[plots]'``.
"""

from fpa.viz.figure import (
    PaintFigure,
    figure_png,
    labelled_png,
    paint_figure,
    painting_frames,
    shown_steps,
    trace_figure,
    trace_frames,
)
from fpa.viz.interpolate import (
    animation_bytes,
    interpolation_frames,
    interpolation_path,
    painting_strip,
    slerp,
)
from fpa.viz.plots import command_figures, command_plot_pngs, save_command_plots
from fpa.viz.progress import painting_progress, png_bytes, step_indices

__all__ = [
    "PaintFigure",
    "animation_bytes",
    "command_figures",
    "command_plot_pngs",
    "figure_png",
    "interpolation_frames",
    "interpolation_path",
    "labelled_png",
    "paint_figure",
    "painting_frames",
    "painting_progress",
    "painting_strip",
    "png_bytes",
    "save_command_plots",
    "shown_steps",
    "slerp",
    "step_indices",
    "trace_figure",
    "trace_frames",
]
