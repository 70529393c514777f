"""``fpa sample`` and ``fpa paint`` on a tiny trained run, and the figure functions behind them."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import fpa
from conftest import plugged_in
from fpa.cli import app
from fpa.training import train
from fpa.viz import paint_figure, painting_frames, shown_steps
from rule_fixtures import StepOnlyDeltaRule
from tiny_runs import tiny

runner = CliRunner()
SIZE, STEPS = 16, 4


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run trained for two steps: enough to have a checkpoint with an EMA generator."""
    folder = tmp_path_factory.mktemp("run") / "run"
    config = tiny(train_steps=2)
    train(config, out=folder, progress=False)
    return folder


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_sample_writes_a_grid_individual_images_and_reusable_latents(run, tmp_path):
    grid, folder, saved = tmp_path / "grid.png", tmp_path / "each", tmp_path / "z.pt"
    result = invoke(
        "sample", run, "--n", 5, "--out", grid, "--individual", folder, "--save-latents", saved
    )
    assert result.exit_code == 0, result.output
    columns = math.ceil(5**0.5)
    with Image.open(grid) as image:
        assert image.size == (columns * (SIZE + 2) + 2, 2 * (SIZE + 2) + 2)
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["0.png", "1.png", "2.png", "3.png", "4.png"]
    with Image.open(folder / "3.png") as image:
        assert image.size == (SIZE, SIZE)
    again = tmp_path / "again.png"
    assert invoke("sample", run, "--latents", saved, "--out", again).exit_code == 0
    assert again.read_bytes() == grid.read_bytes()
    raw = tmp_path / "raw.png"
    assert invoke("sample", run, "--latents", saved, "--no-ema", "--out", raw).exit_code == 0
    assert raw.read_bytes() != grid.read_bytes()


def test_individual_images_are_the_generators_images(run, tmp_path):
    z = torch.randn(2, 8)
    torch.save(z, tmp_path / "z.pt")
    result = invoke(
        "sample",
        run,
        "--latents",
        tmp_path / "z.pt",
        "--out",
        tmp_path / "g.png",
        "--individual",
        tmp_path / "each",
    )
    assert result.exit_code == 0, result.output
    with torch.no_grad():
        expected = fpa.load(run)(z)
    pixels = ((expected + 1) / 2 * 255 + 0.5).clamp(0, 255).to(torch.uint8)
    with Image.open(tmp_path / "each" / "1.png") as image:
        written = torch.from_numpy(np.array(image.convert("L")))
    assert torch.equal(written, pixels[1, 0])


def test_shown_steps_end_at_the_last_step():
    assert shown_steps(8, 1) == list(range(8))
    assert shown_steps(8, 3) == [2, 5, 7]
    assert shown_steps(8, 8) == [7]
    with pytest.raises(fpa.ConfigError, match="between 1 and T = 8"):
        shown_steps(8, 9)


def test_paint_figure_rows_are_updates_then_partial_images(run):
    generator = fpa.load(run)
    z = torch.randn(3, 8)
    figure = paint_figure(generator, z, every=2)
    assert figure.steps == [1, 3] and figure.rows == 6 and figure.columns == 2
    assert figure.tiles.shape == (12, 1, SIZE, SIZE)
    trace = generator.paint_trace(z)
    last_partial = figure.tiles.reshape(3, 2, 2, 1, SIZE, SIZE)[:, 1, -1]
    torch.testing.assert_close(last_partial, trace.painted)
    first_update = figure.tiles.reshape(3, 2, 2, 1, SIZE, SIZE)[:, 0, 0]
    update = trace.updates[:, 1]
    scale = trace.matrices[:, -1].flatten(1).norm(dim=1) / update.flatten(1).norm(dim=1)
    torch.testing.assert_close(first_update, torch.tanh(update * scale[:, None, None, None]))


class NegatingRefiner(torch.nn.Module):
    """A refiner that flips the image, so its column is easy to recognise."""

    def __init__(self, *, image_size, channels):
        super().__init__()

    def forward(self, images):
        return -images


class RefinerPlugin:
    @fpa.hookimpl
    def fpa_register_refiners(self, register):
        register("negate", NegatingRefiner)


def test_a_refiner_adds_a_column_with_its_change_and_the_refined_image():
    with plugged_in(RefinerPlugin(), name="test-refiner"):
        generator = fpa.build_generator(
            image_size=8, steps=3, latent_dim=4, hidden_size=8, input_size=4, refiner="negate"
        ).eval()
    z = torch.randn(2, 4)
    figure = paint_figure(generator, z)
    assert figure.columns == 4
    tiles = figure.tiles.reshape(2, 2, 4, 1, 8, 8)
    trace = generator.paint_trace(z)
    torch.testing.assert_close(tiles[:, 1, -1], -trace.painted)
    torch.testing.assert_close(tiles[:, 0, -1], (-2 * trace.painted).clamp(-1, 1))
    assert painting_frames(generator, z).shape[0] == 4


def test_paint_writes_the_figure_an_animation_and_plots(run, tmp_path):
    out, gif, plots = tmp_path / "fig.png", tmp_path / "paint.gif", tmp_path / "plots"
    plots.mkdir()
    result = invoke(
        "paint", run, "--n", 2, "--out", out, "--animate", gif, "--plots", plots, "--scale", 2
    )
    assert result.exit_code == 0, result.output
    with Image.open(out) as image:
        assert image.size == (STEPS * (SIZE + 2) + 2, 4 * (SIZE + 2) + 2)
    with Image.open(gif) as image:
        assert image.format == "GIF"
        assert image.size == (2 * (2 * (SIZE + 2) + 2), 2 * (SIZE + 4))
        assert 2 <= image.n_frames <= STEPS
    assert sorted(p.name for p in plots.iterdir()) == ["keys.png", "rates.png", "values.png"]


def test_paint_animation_as_apng(run, tmp_path):
    result = invoke(
        "paint", run, "--n", 1, "--out", tmp_path / "f.png", "--animate", tmp_path / "a.png"
    )
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "a.png") as image:
        assert getattr(image, "is_animated", False)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sample", "{missing}"], "does not exist"),
        (["sample", "{run}", "--n", "0"], "--n must be at least 1"),
        (["paint", "{run}", "--every", "99"], "--every must be between 1 and T = 4"),
        (["paint", "{run}", "--animate", "{tmp}/a.mp4"], "--animate must end in"),
        (["paint", "{run}", "--plots", "{tmp}/no-such-folder"], "does not exist"),
        (["sample", "{run}", "--latents", "{tmp}/nope.pt"], "does not exist"),
        (["paint", "{tmp}"], "not an fpa run directory"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(run, tmp_path, args, message):
    fields = {"run": run, "tmp": tmp_path, "missing": tmp_path / "missing"}
    out = tmp_path / "out.png"
    result = invoke(*[a.format(**fields) for a in args], "--out", out)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]
    assert not out.exists()


def test_a_checkpoint_whose_rule_plugin_is_missing_names_it(tmp_path):
    class Plugin:
        @fpa.hookimpl
        def fpa_register_rules(self, register):
            register("step-only-delta", StepOnlyDeltaRule)

    config = tiny(rule="step-only-delta", paint_steps=2, train_steps=1)
    with plugged_in(Plugin(), name="test-rules"):
        train(config, out=tmp_path / "run", progress=False)
        painted = invoke(
            "paint", tmp_path / "run", "--out", tmp_path / "ok.png", "--plots", tmp_path
        )
        assert painted.exit_code == 0, painted.output
    result = invoke("paint", tmp_path / "run", "--out", tmp_path / "f.png")
    assert result.exit_code == 2
    assert "needs rule 'step-only-delta'" in result.output
    assert not (tmp_path / "f.png").exists()
