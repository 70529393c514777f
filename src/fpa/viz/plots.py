"""Per-step plots of what a painter asks the rule to write: keys, values and learning rates.

The partial images show *what* was painted; these plots show *how*: which columns each step
addresses (keys), what it writes there (values) and how strongly (rates). matplotlib is an
optional extra (``fpa[plots]``), so it is imported only when a plot is made.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from fpa.errors import ConfigError
from fpa.files import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from fpa.generator import FastWeightPainter

MISSING_MATPLOTLIB = "--plots needs matplotlib: pip install 'fpa[plots]'"
STEP_LABEL = "painting step t"
KEY_LABEL = "key index (image column)"
VALUE_LABEL = "value index (image row)"
RATE_LABEL = "learning rate"
CHANNEL_NAMES = {1: ("grey",), 3: ("R", "G", "B"), 4: ("R", "G", "B", "A")}
PLOT_NAMES = ("keys", "values", "rates")


def channel_names(channels: int) -> list[str]:
    """Readable channel names: grey, R/G/B, RGBA, or ``channel i`` for other counts."""
    return list(CHANNEL_NAMES.get(channels, [f"channel {i}" for i in range(channels)]))


def _figure_class() -> type[Figure]:
    """matplotlib's Figure class, or a ConfigError that says how to install it."""
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ConfigError(MISSING_MATPLOTLIB) from error
    return Figure


def _new_figure(panels: int, title: str) -> tuple[Figure, list[Axes]]:
    """A figure with one panel per channel side by side, drawn by the Agg canvas (no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = _figure_class()(figsize=(0.5 + 3.2 * panels, 3.4), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, panels, squeeze=False)[0]
    figure.suptitle(title)
    return figure, list(axes)


def _colour_scale(data: np.ndarray) -> dict[str, Any]:
    """Sequential colours for non-negative data, a diverging map centred on zero otherwise,
    so the sign of a value is visible at a glance."""
    if data.size and data.min() < 0:
        bound = float(np.abs(data).max()) or 1.0
        return {"cmap": "RdBu_r", "vmin": -bound, "vmax": bound}
    return {"cmap": "viridis"}


def _heatmap(figure: Figure, ax: Axes, data: np.ndarray, *, xlabel: str, bar_label: str) -> None:
    """Steps down the rows (t = 1 at the top), indices across, with a labelled colour bar."""
    from matplotlib.ticker import MaxNLocator

    steps, size = data.shape
    image = ax.imshow(
        data,
        aspect="auto",
        interpolation="nearest",
        extent=(-0.5, size - 0.5, steps + 0.5, 0.5),
        **_colour_scale(data),
    )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(STEP_LABEL)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    figure.colorbar(image, ax=ax, label=bar_label)


def _check_sample(z: Tensor, sample: int) -> None:
    if isinstance(sample, bool) or not isinstance(sample, int):
        raise ConfigError(f"sample must be an integer; got {sample!r}")
    batch = z.shape[0] if z.dim() > 0 else 0
    if not 0 <= sample < batch:
        raise ConfigError(f"sample {sample} is out of range for {batch} latent(s)")


def _commands(
    generator: FastWeightPainter, z: Tensor, labels: Tensor | None = None
) -> tuple[np.ndarray, ...]:
    """Keys ``(B, C, T, W)``, values ``(B, C, T, H)`` and rates ``(B, C, T, R)``, R = 1 or H,
    as float arrays."""
    with torch.no_grad():
        commands = generator.commands(z, labels)
    return tuple(
        part.detach().float().cpu().numpy()
        for part in (commands.keys, commands.values, commands.rates)
    )


def command_figures(
    generator: FastWeightPainter, z: Tensor, *, sample: int = 0
) -> dict[str, Figure]:
    """Figures ``keys``, ``values`` and ``rates`` of one latent's painting commands.

    Keys and values are heatmaps of step × index, one panel per channel. Rates are a line over
    the steps per channel with one rate per step (R = 1), else a step × row heatmap.
    """
    _figure_class()
    _check_sample(z, sample)
    keys, values, rates = (part[sample] for part in _commands(generator, z))
    return _figures(keys, values, rates, sample=sample)


def _figures(
    keys: np.ndarray, values: np.ndarray, rates: np.ndarray, *, sample: int
) -> dict[str, Figure]:
    names = channel_names(keys.shape[0])
    figures: dict[str, Figure] = {}

    figure, axes = _new_figure(len(names), f"keys of sample {sample}")
    for ax, name, data in zip(axes, names, keys, strict=True):
        _heatmap(figure, ax, data, xlabel=KEY_LABEL, bar_label="key weight")
        ax.set_title(f"{name} channel")
    figures["keys"] = figure

    figure, axes = _new_figure(len(names), f"values of sample {sample}")
    for ax, name, data in zip(axes, names, values, strict=True):
        _heatmap(figure, ax, data, xlabel=VALUE_LABEL, bar_label="value")
        ax.set_title(f"{name} channel")
    figures["values"] = figure

    figure, axes = _new_figure(len(names), f"learning rates of sample {sample}")
    for ax, name, data in zip(axes, names, rates, strict=True):
        if data.shape[-1] > 1:
            _heatmap(figure, ax, data, xlabel=VALUE_LABEL, bar_label=RATE_LABEL)
        else:
            from matplotlib.ticker import MaxNLocator

            ax.plot(np.arange(1, data.shape[0] + 1), data[:, 0], marker="o", markersize=3)
            ax.set_xlabel(STEP_LABEL)
            ax.set_ylabel(RATE_LABEL)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
        ax.set_title(f"{name} channel")
    figures["rates"] = figure
    return figures


def _png(figure: Figure, dpi: int) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _check_dpi(dpi: int) -> None:
    if isinstance(dpi, bool) or not isinstance(dpi, int) or dpi < 1:
        raise ConfigError(f"dpi must be a positive integer; got {dpi!r}")


def command_plot_pngs(
    generator: FastWeightPainter, z: Tensor, *, dpi: int = 120, labels: Tensor | None = None
) -> dict[str, bytes]:
    """Every latent's plots as PNG bytes by file name: ``0-keys.png``, ``0-values.png``,
    ``0-rates.png``, ``1-keys.png``, … (indices zero-padded to one width, as ``fpa sample
    --individual`` names its images)."""
    _figure_class()
    _check_dpi(dpi)
    commands = _commands(generator, z, labels)
    width = len(str(len(z) - 1))
    encoded = {}
    for sample in range(len(z)):
        figures = _figures(*(part[sample] for part in commands), sample=sample)
        for name in PLOT_NAMES:
            encoded[f"{sample:0{width}d}-{name}.png"] = _png(figures[name], dpi)
    return encoded


def save_command_plots(
    generator: FastWeightPainter, z: Tensor, folder: Path, *, sample: int = 0, dpi: int = 120
) -> list[Path]:
    """Write ``keys.png``, ``values.png`` and ``rates.png`` of one latent into an existing
    ``folder``.

    All three are rendered before the first is written, so a failure leaves nothing behind;
    each file is written atomically.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"cannot write plots: folder {folder} does not exist")
    _check_dpi(dpi)
    figures = command_figures(generator, z, sample=sample)
    encoded = {name: _png(figures[name], dpi) for name in PLOT_NAMES}
    return [atomic_write_bytes(folder / f"{name}.png", encoded[name]) for name in PLOT_NAMES]
