"""Plots of a painting's keys, values and learning rates (fpa.viz.plots)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

pytest.importorskip("matplotlib")

from PIL import Image

import fpa
from fpa.errors import ConfigError
from fpa.viz.plots import command_figures, save_command_plots

HEIGHT, WIDTH, STEPS = 12, 16, 8


def make_generator(*, channels: int = 3, per_row_rate: bool = False):
    """A tiny, non-square generator: a swapped keys/values plot shows up as a wrong width."""
    torch.manual_seed(0)
    return fpa.build_generator(
        rule="delta",
        painter="lstm",
        image_size=(HEIGHT, WIDTH),
        channels=channels,
        paint_steps=STEPS,
        latent_dim=8,
        hidden_size=16,
        input_size=8,
        per_row_rate=per_row_rate,
    )


def panels(figure):
    """The per-channel panels of a figure: its titled axes (colour bars have no title)."""
    return [ax for ax in figure.axes if ax.get_title()]


@pytest.fixture(scope="module")
def rgb():
    generator = make_generator()
    return generator, generator.sample_latents(3, generator=torch.Generator().manual_seed(1))


@pytest.mark.slow
def test_save_writes_three_valid_pngs(rgb, tmp_path):
    generator, z = rgb
    paths = save_command_plots(generator, z, tmp_path, sample=1, dpi=80)
    assert [path.name for path in paths] == ["keys.png", "values.png", "rates.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys.png", "rates.png", "values.png"]
    for path in paths:
        with Image.open(path) as image:
            assert image.format == "PNG"
            image.load()
            width, height = image.size
        # Three panels side by side at 80 dpi: wider than tall, and neither empty nor huge.
        assert 400 < width < 2000
        assert 150 < height < 600
        assert width > height


@pytest.mark.parametrize(("channels", "names"), [(1, ["grey"]), (3, ["R", "G", "B"])])
def test_one_panel_per_channel_with_labels_and_colour_bars(channels, names):
    generator = make_generator(channels=channels)
    figures = command_figures(generator, generator.sample_latents(2))
    assert set(figures) == {"keys", "values", "rates"}
    for kind, xlabel in [
        ("keys", "key index (image column)"),
        ("values", "value index (image row)"),
    ]:
        figure = figures[kind]
        axes = panels(figure)
        assert [ax.get_title() for ax in axes] == [f"{name} channel" for name in names]
        assert all(ax.get_xlabel() == xlabel for ax in axes)
        assert all(ax.get_ylabel() == "painting step t" for ax in axes)
        assert all(len(ax.images) == 1 for ax in axes)
        assert len(figure.axes) == 2 * channels  # one colour bar beside each panel
    rate_axes = panels(figures["rates"])
    assert [ax.get_title() for ax in rate_axes] == [f"{name} channel" for name in names]
    assert all(ax.get_xlabel() == "painting step t" for ax in rate_axes)
    assert all(ax.get_ylabel() == "learning rate" for ax in rate_axes)
    assert all(len(ax.lines) == 1 and not ax.images for ax in rate_axes)


@pytest.mark.slow
def test_plotted_data_is_the_traced_commands_of_that_sample(rgb):
    generator, z = rgb
    sample = 2
    # The plot computes the commands without autograd: float32 rounding may differ (~1e-8).
    commands = generator.paint_trace(z).commands
    figures = command_figures(generator, z, sample=sample)
    for c, ax in enumerate(panels(figures["keys"])):
        key_image = np.asarray(ax.images[0].get_array())
        assert key_image.shape == (STEPS, WIDTH)
        np.testing.assert_allclose(
            key_image, commands.keys[sample, c].detach().numpy(), rtol=1e-6, atol=1e-6
        )
    for c, ax in enumerate(panels(figures["values"])):
        value_image = np.asarray(ax.images[0].get_array())
        assert value_image.shape == (STEPS, HEIGHT)
        np.testing.assert_allclose(
            value_image, commands.values[sample, c].detach().numpy(), rtol=1e-6, atol=1e-6
        )
    for c, ax in enumerate(panels(figures["rates"])):
        steps, rates = ax.lines[0].get_data()
        np.testing.assert_array_equal(steps, np.arange(1, STEPS + 1))
        np.testing.assert_allclose(
            rates, commands.rates[sample, c, :, 0].detach().numpy(), rtol=1e-6, atol=1e-6
        )
    # Another sample plots other data: the index is honoured, not ignored.
    other = command_figures(generator, z, sample=0)
    assert not np.allclose(
        other["keys"].axes[0].images[0].get_array(), figures["keys"].axes[0].images[0].get_array()
    )


def test_per_row_rates_are_a_heatmap_of_steps_by_rows():
    generator = make_generator(channels=1, per_row_rate=True)
    z = generator.sample_latents(2)
    rates = generator.paint_trace(z).commands.rates
    assert rates.shape == (2, 1, STEPS, HEIGHT)
    figure = command_figures(generator, z, sample=1)["rates"]
    (ax,) = panels(figure)
    assert not ax.lines
    assert ax.get_xlabel() == "value index (image row)"
    assert ax.get_ylabel() == "painting step t"
    np.testing.assert_allclose(
        np.asarray(ax.images[0].get_array()), rates[1, 0].detach().numpy(), rtol=1e-6
    )
    assert len(figure.axes) == 2
    assert figure.axes[1].get_ylabel() == "learning rate"  # the colour bar names the quantity


@pytest.mark.parametrize("sample", [3, -1, 1.0, True])
def test_bad_sample_raises_and_writes_nothing(rgb, tmp_path, sample):
    generator, z = rgb
    with pytest.raises(ConfigError, match="sample"):
        save_command_plots(generator, z, tmp_path, sample=sample)
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_raises_and_writes_nothing(rgb, tmp_path):
    generator, z = rgb
    missing = tmp_path / "absent"
    with pytest.raises(ConfigError, match="does not exist"):
        save_command_plots(generator, z, missing)
    assert not missing.exists()
    assert list(tmp_path.iterdir()) == []


def test_missing_matplotlib_names_the_extra(rgb, tmp_path, monkeypatch):
    generator, z = rgb
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ConfigError, match=r"pip install 'fpa\[plots\]'"):
        save_command_plots(generator, z, tmp_path)
    assert list(tmp_path.iterdir()) == []
