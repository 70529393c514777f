"""``fpa sample`` and ``fpa paint`` on a tiny trained run, and the figure functions behind them."""

from __future__ import annotations

import io
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
from fpa.viz import labelled_png, paint_figure, painting_frames, png_bytes, shown_steps
from fpa.viz.figure import PaintFigure, column_labels, figure_png, row_labels
from fpa.viz.interpolate import ANIMATION_WIDTH
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


@pytest.mark.parametrize("suffix", [".npy", ".pt", ".NPY"])
def test_saved_latents_are_in_the_format_their_extension_names_and_read_back(run, tmp_path, suffix):
    grid, saved = tmp_path / "grid.png", tmp_path / f"z{suffix}"
    result = invoke("sample", run, "--n", 3, "--out", grid, "--save-latents", saved)
    assert result.exit_code == 0, result.output
    if suffix.lower() == ".npy":
        array = np.load(saved, allow_pickle=False)
        assert array.shape == (3, 8) and array.dtype == np.float32
    else:
        assert torch.load(saved, weights_only=True).shape == (3, 8)
    again = tmp_path / "again.png"
    result = invoke("sample", run, "--latents", saved, "--out", again)
    assert result.exit_code == 0, result.output
    assert again.read_bytes() == grid.read_bytes()


def test_latents_are_refused_with_an_extension_fpa_cannot_write(run, tmp_path):
    result = invoke(
        "sample", run, "--out", tmp_path / "g.png", "--save-latents", tmp_path / "z.txt"
    )
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and ".npy or .pt" in lines[0]
    assert not (tmp_path / "g.png").exists() and not (tmp_path / "z.txt").exists()


def test_a_torch_file_named_npy_is_one_line_not_a_traceback(run, tmp_path):
    torch.save(torch.randn(2, 8), tmp_path / "old.npy")  # what fpa sample used to write
    result = invoke("sample", run, "--latents", tmp_path / "old.npy", "--out", tmp_path / "g.png")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "name it .pt" in lines[0]


class Smuggled:
    """An object a latents file could smuggle in through pickle."""


def test_a_latents_file_holding_objects_is_one_line_without_pytorchs_advice(run, tmp_path):
    torch.save({"z": Smuggled()}, tmp_path / "z.pt")
    result = invoke("sample", run, "--latents", tmp_path / "z.pt", "--out", tmp_path / "g.png")
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert "more than tensors and plain values" in line and "Smuggled" in line
    assert "weights_only" not in line


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
            image_size=8, paint_steps=3, latent_dim=4, hidden_size=8, input_size=4, refiner="negate"
        ).eval()
    z = torch.randn(2, 4)
    figure = paint_figure(generator, z)
    assert figure.columns == 4 and figure.refined
    assert column_labels(figure) == ["1", "2", "3", "refined"]
    tiles = figure.tiles.reshape(2, 2, 4, 1, 8, 8)
    trace = generator.paint_trace(z)
    torch.testing.assert_close(tiles[:, 1, -1], -trace.painted)
    torch.testing.assert_close(tiles[:, 0, -1], (-2 * trace.painted).clamp(-1, 1))
    assert painting_frames(generator, z).shape[0] == 4


def grid_of(image: Image.Image, *, columns: int, rows: int, tile: int) -> Image.Image:
    """The bottom-right corner of a labelled figure that holds its grid of tiles."""
    width, height = columns * (tile + 2) + 2, rows * (tile + 2) + 2
    return image.crop((image.width - width, image.height - height, image.width, image.height))


@pytest.mark.slow
def test_paint_writes_the_figure_an_animation_and_plots_of_every_sample(run, tmp_path):
    out, gif, plots = tmp_path / "fig.png", tmp_path / "paint.gif", tmp_path / "new" / "plots"
    (tmp_path / "new").mkdir()
    result = invoke(
        "paint", run, "--n", 2, "--out", out, "--animate", gif, "--plots", plots, "--scale", 2
    )
    assert result.exit_code == 0, result.output
    z = torch.randn(2, 8, generator=torch.Generator().manual_seed(0))
    plain = png_bytes(paint_figure(fpa.load(run), z).tiles, columns=STEPS, scale=2)
    with Image.open(out) as image, Image.open(io.BytesIO(plain)) as expected:
        assert image.width > expected.width and image.height > expected.height
        grid = grid_of(image, columns=STEPS, rows=4, tile=2 * SIZE)
        assert np.array_equal(np.array(grid), np.array(expected.convert("L")))
        assert f"{image.width}×{image.height} px" in result.output
    with Image.open(gif) as image:
        assert image.format == "GIF"
        # A frame of 2 samples, enlarged past --scale 2 to be at least 256 px wide
        width, height = 2 * (SIZE + 2) + 2, SIZE + 4
        enlarged = math.ceil(ANIMATION_WIDTH / width)
        assert image.size == (enlarged * width, enlarged * height) and image.width >= 256
        assert 2 <= image.n_frames <= STEPS
        assert f"{image.width}×{image.height} px" in result.output
    names = [f"{i}-{kind}.png" for i in (0, 1) for kind in ("keys", "rates", "values")]
    assert sorted(p.name for p in plots.iterdir()) == names


def test_the_paint_figure_labels_its_columns_with_steps_and_its_rows(run):
    figure = paint_figure(fpa.load(run), torch.randn(2, 8), every=2)
    assert column_labels(figure) == ["2", "4"]
    assert row_labels(figure) == [
        "#0 update",
        "#0 partial image",
        "#1 update",
        "#1 partial image",
    ]
    refined = PaintFigure(tiles=figure.tiles, rows=4, columns=2, steps=[3], refined=True)
    assert column_labels(refined) == ["4", "refined"]
    with Image.open(io.BytesIO(figure_png(refined))) as image:  # scale 1: a narrow column
        pixels = np.array(image)
    top = pixels.shape[0] - (4 * (SIZE + 2) + 2)
    assert (pixels[:top, -(SIZE + 2) :] < 128).any()  # "refined" over the last column
    with Image.open(io.BytesIO(figure_png(figure, scale=3))) as image:
        pixels = np.array(image)
    tile = 3 * SIZE
    top = pixels.shape[0] - (4 * (tile + 2) + 2)
    left = pixels.shape[1] - (2 * (tile + 2) + 2)
    assert top > 0 and left > 0
    for column in range(2):  # ink above each column
        start = left + 2 + column * (tile + 2)
        assert (pixels[:top, start : start + tile] < 128).any()
    for row in range(4):  # and beside each row
        start = top + 2 + row * (tile + 2)
        assert (pixels[start : start + tile, :left] < 128).any()


def test_a_labelled_grid_names_each_column_above_it_and_each_row_beside_it():
    tiles = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    plain = png_bytes(tiles, columns=3, scale=2)
    names = {"column_names": ["image", "painted", "SVD"], "row_names": ["a.png", "b.png"]}
    named = labelled_png(tiles, columns=3, scale=2, **names)
    with Image.open(io.BytesIO(plain)) as grid, Image.open(io.BytesIO(named)) as picture:
        left, top = picture.width - grid.width, picture.height - grid.height
        assert left > 0 and top > 0
        pixels = np.asarray(picture)
        assert np.array_equal(pixels[top:, left:], np.asarray(grid))  # the grid, unchanged
        for column in range(3):  # ink above every column
            start = left + 2 + column * 66
            assert pixels[:top, start : start + 64].min() < 128, column
        for row in range(2):  # and beside every row
            start = top + 2 + row * 66
            assert pixels[start : start + 64, :left].min() < 128, row
    with Image.open(io.BytesIO(labelled_png(tiles, columns=3, scale=2))) as unnamed:
        assert unnamed.size == grid.size  # no names, no margins


def test_sample_scale_enlarges_every_tile_but_not_the_individual_images(run, tmp_path):
    grid, folder = tmp_path / "grid.png", tmp_path / "each"
    result = invoke("sample", run, "--n", 4, "--scale", 3, "--out", grid, "--individual", folder)
    assert result.exit_code == 0, result.output
    plain = tmp_path / "plain.png"
    assert invoke("sample", run, "--n", 4, "--out", plain).exit_code == 0
    with Image.open(grid) as image, Image.open(plain) as small:
        assert image.size == (2 * (3 * SIZE + 2) + 2, 2 * (3 * SIZE + 2) + 2)
        assert f"{image.width}×{image.height} px" in result.output
        tile = np.array(image)[2 : 2 + 3 * SIZE, 2 : 2 + 3 * SIZE]
        expected = np.array(small)[2 : 2 + SIZE, 2 : 2 + SIZE].repeat(3, 0).repeat(3, 1)
        assert np.array_equal(tile, expected)
    with Image.open(folder / "0.png") as image:
        assert image.size == (SIZE, SIZE)


def test_sample_shows_the_runs_own_fixed_latents_unless_a_seed_is_given(run, tmp_path):
    grid = tmp_path / "grid.png"
    result = invoke("sample", run, "--n", 4, "--out", grid)
    assert result.exit_code == 0, result.output
    assert grid.read_bytes() == (run / "samples" / "latest.png").read_bytes()
    seeded = tmp_path / "seeded.png"
    assert invoke("sample", run, "--n", 4, "--seed", 0, "--out", seeded).exit_code == 0
    assert seeded.read_bytes() != grid.read_bytes()
    more, saved = tmp_path / "more.png", tmp_path / "z.pt"
    result = invoke("sample", run, "--n", 6, "--out", more, "--save-latents", saved)
    assert result.exit_code == 0, result.output
    z = torch.load(saved, weights_only=True)
    fixed = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)["fixed_latents"]
    torch.testing.assert_close(z[:4], fixed, rtol=0, atol=0)
    seed_0 = torch.randn(6, 8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(z[4:], seed_0[4:], rtol=0, atol=0)


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
        (["paint", "{run}", "--plots", "{tmp}/no-such-folder/plots"], "does not exist"),
        (["paint", "{run}", "--plots", "{tmp}/a-file"], "is a file, not a folder"),
        (["sample", "{run}", "--latents", "{tmp}/nope.pt"], "does not exist"),
        (["paint", "{tmp}"], "not an fpa run directory"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(run, tmp_path, args, message):
    fields = {"run": run, "tmp": tmp_path, "missing": tmp_path / "missing"}
    (tmp_path / "a-file").write_text("not a folder")
    out = tmp_path / "out.png"
    result = invoke(*[a.format(**fields) for a in args], "--out", out)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]
    assert not out.exists()


@pytest.mark.parametrize(
    ("command", "written"),
    [
        (["paint", "{run}"], "painting.png"),
        (["sample", "{run}"], "samples.png"),
        (["preview", "--image-size", "8", "--n", "1", "--paint-steps", "2"], "preview.png"),
        (["interpolate", "{run}", "--n", "2", "--frames", "2"], "interp.gif"),
    ],
)
def test_a_second_command_never_silently_replaces_the_first_ones_default_output(
    run, tmp_path, monkeypatch, command, written
):
    monkeypatch.chdir(tmp_path)
    args = [arg.format(run=run) for arg in command]
    assert invoke(*args).exit_code == 0
    first = (tmp_path / written).read_bytes()
    again = invoke(*args, "--seed", "1")
    assert again.exit_code == 2
    (line,) = again.output.strip().splitlines()
    assert line == (
        f"error: {written} already exists (an earlier result): name another with --out, "
        "or give --overwrite to replace it"
    )
    assert (tmp_path / written).read_bytes() == first
    assert invoke(*args, "--seed", "1", "--overwrite").exit_code == 0
    assert (tmp_path / written).read_bytes() != first


def test_other_outputs_are_kept_too_and_an_empty_folder_is_no_earlier_result(run, tmp_path):
    grid, folder = tmp_path / "grid.png", tmp_path / "each"
    folder.mkdir()
    assert invoke("sample", run, "--n", 2, "--out", grid, "--individual", folder).exit_code == 0
    result = invoke("sample", run, "--n", 2, "--out", tmp_path / "b.png", "--individual", folder)
    assert result.exit_code == 2 and f"{folder} holds files" in result.output
    assert not (tmp_path / "b.png").exists()
    result = invoke("paint", run, "--out", tmp_path / "p.png", "--animate", grid)
    assert result.exit_code == 2 and "name another with --animate" in result.output
    assert not (tmp_path / "p.png").exists()


@pytest.mark.slow
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
