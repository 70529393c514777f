"""Latent walks: slerp geometry, paths through anchors, frames, animations and the CLI."""

from __future__ import annotations

import io
import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from PIL import Image, ImageSequence
from typer.testing import CliRunner

import fpa
import fpa.cli.interpolate  # registers the command
from fpa.cli.app import app
from fpa.errors import ConfigError
from fpa.training import TrainConfig, train
from fpa.viz.interpolate import (
    ANIMATION_WIDTH,
    animation_bytes,
    interpolation_frames,
    interpolation_path,
    painting_strip,
    path_length,
    segment_grid,
    slerp,
    strip_frames,
    to_uint8,
)

SIZE = 16
LATENT = 8
runner = CliRunner()

latent = st.lists(
    st.floats(-10, 10, allow_nan=False, allow_subnormal=False), min_size=LATENT, max_size=LATENT
).map(lambda values: torch.tensor(values, dtype=torch.float64))
nonzero = latent.filter(lambda z: float(z.norm()) > 1e-3)
unit = nonzero.map(lambda z: z / z.norm())


def angle(a: torch.Tensor, b: torch.Tensor) -> float:
    cosine = float(a @ b / (a.norm() * b.norm()))
    return math.acos(max(-1.0, min(1.0, cosine)))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One tiny run trained for a single step (its EMA generator is what the CLI loads)."""
    out = tmp_path_factory.mktemp("interp") / "run"
    config = TrainConfig().with_overrides(
        {
            "image_size": [SIZE, SIZE],
            "paint_steps": 4,
            "latent_dim": LATENT,
            "painter_options": {"hidden_size": 16, "input_size": 8},
            "batch_size": 4,
            "train_steps": 1,
            "sample_every": 1,
            "sample_count": 2,
            "checkpoint_every": 1,
            "device": "cpu",
            "quiet": True,
        }
    )
    train(config, out=out, progress=False)
    return out


@pytest.fixture(scope="module")
def generator(run):
    return fpa.load(run, ema=True, device="cpu")


def invoke(*args: object):
    return runner.invoke(app, ["interpolate", *map(str, args)])


# slerp


@given(nonzero, nonzero)
def test_slerp_endpoints_are_exact(z0, z1):
    path = slerp(z0, z1, torch.tensor([0.0, 0.5, 1.0]))
    assert path.shape == (3, LATENT)
    assert torch.equal(path[0], z0) and torch.equal(path[-1], z1)


@given(unit, unit, st.lists(st.floats(0, 1), min_size=1, max_size=8))
def test_slerp_keeps_unit_vectors_on_the_sphere(z0, z1, ts):
    assume(angle(z0, z1) < math.pi - 1e-3)
    path = slerp(z0, z1, torch.tensor(ts))
    torch.testing.assert_close(path.norm(dim=-1), torch.ones(len(ts), dtype=torch.float64))


@given(unit, unit)
def test_slerp_turns_at_constant_speed_from_z0_to_z1(z0, z1):
    total = angle(z0, z1)
    assume(1e-2 < total < math.pi - 1e-2)
    t = torch.linspace(0, 1, 9, dtype=torch.float64)
    path = slerp(z0, z1, t)
    from_start = [angle(z0, z) for z in path]
    to_end = [angle(z, z1) for z in path]
    assert all(a < b for a, b in itertools.pairwise(from_start))
    assert all(a > b for a, b in itertools.pairwise(to_end))
    np.testing.assert_allclose(from_start, (t * total).numpy(), atol=1e-6)


def test_slerp_falls_back_to_linear_for_parallel_latents():
    z = torch.tensor([1.0, -2.0, 0.5])
    t = torch.tensor([0.0, 0.25, 1.0])
    torch.testing.assert_close(slerp(z, 3 * z, t), z + t[:, None] * 2 * z)
    opposite = slerp(z, -z, t)
    assert torch.isfinite(opposite).all()
    torch.testing.assert_close(opposite[1], 0.5 * z)


def test_slerp_rejects_mismatched_latents():
    with pytest.raises(ConfigError):
        slerp(torch.zeros(3), torch.zeros(4), 0.5)


# paths


@pytest.mark.parametrize("loop", [False, True])
@pytest.mark.parametrize(("anchors", "between"), [(2, 1), (3, 4), (5, 2)])
def test_path_passes_every_anchor_in_order(anchors, between, loop):
    points = torch.randn(anchors, LATENT, generator=torch.Generator().manual_seed(anchors))
    path = interpolation_path(points, frames_between=between, loop=loop)
    expected = anchors * between if loop else (anchors - 1) * between + 1
    assert path.shape == (expected, LATENT)
    assert path_length(anchors, frames_between=between, loop=loop) == expected
    torch.testing.assert_close(path[::between], points, rtol=0, atol=0)
    if between > 1:
        middle = slerp(points[0], points[1], torch.tensor([1 / between]))[0]
        torch.testing.assert_close(path[1], middle)
    if loop:
        last = slerp(points[-1], points[0], torch.tensor([(between - 1) / between]))[0]
        torch.testing.assert_close(path[-1], last)


def test_path_needs_two_anchors_and_a_frame():
    with pytest.raises(ConfigError, match="K ≥ 2"):
        interpolation_path(torch.zeros(1, LATENT), frames_between=4)
    with pytest.raises(ConfigError, match="at least 1"):
        interpolation_path(torch.zeros(3, LATENT), frames_between=0)


@pytest.mark.parametrize("loop", [False, True])
def test_segment_grid_rows_share_their_anchors(loop):
    frames = torch.arange(path_length(4, frames_between=3, loop=loop))
    rows = segment_grid(frames, frames_between=3, loop=loop).reshape(-1, 4)
    assert rows.shape[0] == (4 if loop else 3)
    assert rows[:, 0].tolist() == [0, 3, 6, 9][: rows.shape[0]]
    assert torch.equal(rows[:-1, -1], rows[1:, 0])
    assert rows[-1, -1] == (0 if loop else frames[-1])
    with pytest.raises(ConfigError):
        segment_grid(torch.arange(11), frames_between=3)


# frames


def test_frames_are_what_the_generator_paints(generator):
    path = interpolation_path(torch.randn(3, LATENT), frames_between=3)
    frames = interpolation_frames(generator, path, batch_size=2)
    with torch.no_grad():
        expected = generator(path)
    assert frames.shape == (7, 1, SIZE, SIZE)
    torch.testing.assert_close(frames, expected)


def test_painting_strip_ends_with_the_painted_image(generator):
    path = interpolation_path(torch.randn(2, LATENT), frames_between=2)
    strips = painting_strip(generator, path, steps_shown=3, batch_size=2)
    assert strips.shape == (3, 3, 1, SIZE, SIZE)
    with torch.no_grad():
        trace = generator.paint_trace(path)
    torch.testing.assert_close(strips[:, -1], trace.painted)
    assert not torch.allclose(strips[:, 0], strips[:, -1])
    joined = strip_frames(strips, padding=2)
    assert joined.shape == (3, 1, SIZE, 3 * SIZE + 4)
    torch.testing.assert_close(joined[..., SIZE + 2 : 2 * SIZE + 2], strips[:, 1])
    assert (joined[..., SIZE : SIZE + 2] == 1).all()


# animations


def test_uint8_mapping_matches_save_image():
    values = torch.tensor([-1.0, -2.0, 0.0, 1.0, 3.0]).reshape(1, 1, 1, 5)
    assert to_uint8(values).flatten().tolist() == [0, 0, 128, 255, 255]


@pytest.mark.parametrize(
    ("channels", "format", "mode"),
    [(1, "apng", "L"), (3, "apng", "RGB"), (4, "apng", "RGBA"), (1, "gif", "P")],
)
def test_animation_round_trips_every_frame(channels, format, mode):
    frames = torch.rand(5, channels, 3, 4, generator=torch.Generator().manual_seed(0)) * 2 - 1
    data = animation_bytes(frames, format=format, duration_ms=40, scale=2)
    expected = to_uint8(frames).repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == ("GIF" if format == "gif" else "PNG")
        assert image.n_frames == 5 and image.size == (8, 6) and image.info["loop"] == 0
        assert image.mode == mode
        for index, frame in enumerate(ImageSequence.Iterator(image)):
            assert frame.info["duration"] == 40
            pixels = np.asarray(frame.convert("L" if channels == 1 else mode))
            pixels = pixels.reshape(6, 8, channels).transpose(2, 0, 1)
            assert np.array_equal(pixels, expected[index].numpy()), (index, mode)


def test_gif_of_colour_frames_has_the_right_shape():
    frames = torch.rand(3, 3, 4, 4, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with Image.open(io.BytesIO(animation_bytes(frames, format="gif", duration_ms=50))) as image:
        assert image.n_frames == 3 and image.size == (4, 4)


@pytest.mark.parametrize(
    ("frames", "options"),
    [
        (torch.zeros(2, 2, 4, 4), {}),
        (torch.zeros(2, 1, 4, 4), {"format": "mp4"}),
        (torch.zeros(2, 1, 4, 4), {"scale": 0}),
        (torch.zeros(1, 4, 4), {}),
    ],
)
def test_animation_rejects_bad_input(frames, options):
    with pytest.raises(ConfigError):
        animation_bytes(frames, **{"format": "gif", "duration_ms": 10, **options})


# the command


def test_cli_writes_a_gif_and_a_segment_grid(run, tmp_path):
    out, grid = tmp_path / "walk.gif", tmp_path / "walk.png"
    result = invoke(run, "--n", 3, "--frames", 4, "--scale", 2, "--out", out, "--grid", grid)
    assert result.exit_code == 0, result.output
    with Image.open(out) as image:
        assert image.format == "GIF"
        # one 16×16 image a frame: enlarged past --scale 2 to 256 px wide
        assert image.n_frames == 9 and image.size == (ANIMATION_WIDTH, ANIMATION_WIDTH)
    with Image.open(grid) as image:
        # 2 segments (rows) × 5 frames (columns) of 2×-enlarged tiles, with 2-pixel padding
        assert image.size == (5 * (2 * SIZE + 2) + 2, 2 * (2 * SIZE + 2) + 2)


def test_cli_apng_starts_at_the_first_anchor_from_a_file(run, generator, tmp_path):
    anchors = torch.randn(3, LATENT, generator=torch.Generator().manual_seed(7))
    torch.save(anchors, tmp_path / "anchors.pt")
    out = tmp_path / "walk.apng"
    args = ["--latents", tmp_path / "anchors.pt", "--frames", 2, "--loop", "--scale", 1]
    result = invoke(run, *args, "--out", out)
    assert result.exit_code == 0, result.output
    with Image.open(out) as image:
        assert image.format == "PNG" and image.n_frames == 6
        step = ANIMATION_WIDTH // SIZE  # every pixel enlarged to a step × step block
        first = np.asarray(image.convert("L"))[::step, ::step]
    with torch.no_grad():
        expected = to_uint8(generator(anchors[:1]))[0, 0].numpy()
    assert np.abs(first.astype(int) - expected).max() <= 1


def test_cli_steps_show_the_painting_of_every_frame(run, tmp_path):
    out, grid = tmp_path / "steps.png", tmp_path / "grid.png"
    args = ["--n", 2, "--frames", 3, "--steps", "--step-columns", 3, "--scale", 1]
    result = invoke(run, *args, "--out", out, "--grid", grid)
    assert result.exit_code == 0, result.output
    with Image.open(out) as image:
        enlarged = math.ceil(ANIMATION_WIDTH / (3 * SIZE + 4))  # to 256 px wide at least
        assert image.n_frames == 4 and image.size == (enlarged * (3 * SIZE + 4), enlarged * SIZE)
    assert f"{image.width}×{image.height} px" in result.output  # width × height, as viewers say
    with Image.open(grid) as image:
        assert image.size == (3 * (SIZE + 2) + 2, 4 * (SIZE + 2) + 2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--n", "1"], "--n must be at least 2"),
        (["--frames", "0"], "--frames must be at least 1"),
        (["--scale", "0"], "--scale must be at least 1"),
        (["--out", "{tmp}/walk.mp4"], "must end in .gif, .png or .apng"),
        (["--out", "{tmp}/missing/walk.gif"], "does not exist"),
        (["--grid", "{tmp}/grid.jpg"], "--grid must end in .png"),
        (["--grid", "{tmp}/missing/grid.png"], "does not exist"),
        (["--latents", "{tmp}/one.pt"], "need at least 2"),
        (["--run", "{tmp}/no-run"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(run, tmp_path, args, message):
    torch.save(torch.zeros(1, LATENT), tmp_path / "one.pt")
    kept = tmp_path / "kept.gif"
    kept.write_bytes(b"a good file from before")
    target = run
    args = [arg.format(tmp=tmp_path) for arg in args]
    if args[0] == "--run":
        target, args = args[1], []
    before = sorted(tmp_path.iterdir())
    result = invoke(target, "--out", kept, "--overwrite", *args)  # kept all the same
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], lines
    assert sorted(tmp_path.iterdir()) == before
    assert kept.read_bytes() == b"a good file from before"
