"""Truncation (``--truncation PSI``): latents pulled towards the mean latent, ψ = 1 unchanged."""

from __future__ import annotations

import math

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import fpa
from fpa.cli import app
from fpa.evaluation.sampling import seeded_images
from fpa.latents import truncate

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_psi_one_returns_the_latents_themselves_and_psi_scales_towards_the_mean():
    z = torch.randn(5, 8, generator=torch.Generator().manual_seed(0))
    assert truncate(z, 1.0) is z
    assert torch.equal(truncate(z, 0.0), torch.zeros_like(z))
    assert torch.allclose(truncate(z, 0.25), z / 4)
    mean = torch.full((8,), 3.0)
    pulled = truncate(z, 0.5, mean=mean)
    assert torch.allclose(pulled - mean, (z - mean) / 2)
    assert torch.equal(truncate(z, 0.0, mean=mean), mean.expand(5, 8))


@pytest.mark.parametrize("psi", [-0.5, math.nan, math.inf, True, "1"])
def test_a_bad_psi_is_refused(psi):
    with pytest.raises(fpa.ConfigError, match="truncation"):
        truncate(torch.zeros(1, 2), psi)


def test_sample_latents_and_seeded_images_truncate_the_same_draw():
    generator = fpa.build_generator(image_size=8, paint_steps=2, latent_dim=4, hidden_size=8)
    draw = generator.sample_latents(3, generator=torch.Generator().manual_seed(1))
    pulled = generator.sample_latents(3, generator=torch.Generator().manual_seed(1), truncation=0.3)
    assert torch.allclose(pulled, 0.3 * draw)
    (plain,) = seeded_images(generator, n=3, batch_size=3, seed=1)
    (truncated,) = seeded_images(generator, n=3, batch_size=3, seed=1, truncation=0.3)
    with torch.no_grad():
        assert torch.allclose(plain, generator(draw))
        assert torch.allclose(truncated, generator(0.3 * draw))


def test_fpa_sample_with_psi_one_is_exactly_the_plain_grid(tmp_path):
    plain, one = tmp_path / "plain.png", tmp_path / "one.png"
    assert invoke("sample", "digits", "--n", 4, "--seed", 3, "--out", plain).exit_code == 0
    done = invoke("sample", "digits", "--n", 4, "--seed", 3, "--truncation", 1, "--out", one)
    assert done.exit_code == 0, done.output
    assert one.read_bytes() == plain.read_bytes()


def test_fpa_sample_truncates_the_latents_it_saves(tmp_path):
    """--truncation 0.5 paints what the latents halved paint; --save-latents keeps them as
    drawn, so --latents with the same ψ paints the grid again."""
    grid, saved = tmp_path / "half.png", tmp_path / "z.pt"
    args = ["sample", "digits", "--n", 4, "--seed", 3, "--truncation", 0.5]
    assert invoke(*args, "--out", grid, "--save-latents", saved).exit_code == 0
    halved = tmp_path / "halved.pt"
    torch.save(torch.load(saved) / 2, halved)
    by_hand = tmp_path / "by-hand.png"
    assert invoke("sample", "digits", "--latents", halved, "--out", by_hand).exit_code == 0
    assert by_hand.read_bytes() == grid.read_bytes()
    again = tmp_path / "again.png"
    done = invoke("sample", "digits", "--latents", saved, "--truncation", 0.5, "--out", again)
    assert done.exit_code == 0 and again.read_bytes() == grid.read_bytes()


def test_psi_zero_paints_the_mean_latents_image_for_every_sample(tmp_path):
    folder = tmp_path / "each"
    args = ["sample", "digits", "--n", 3, "--truncation", 0, "--individual", folder]
    assert invoke(*args, "--out", tmp_path / "grid.png").exit_code == 0
    pictures = [Image.open(path).tobytes() for path in sorted(folder.iterdir())]
    assert len(pictures) == 3 and pictures[0] == pictures[1] == pictures[2]


@pytest.mark.parametrize("command", ["paint", "interpolate"])
def test_paint_and_interpolate_with_psi_one_are_unchanged_and_differ_below(command, tmp_path):
    suffix = ".png" if command == "paint" else ".gif"
    outputs = {}
    for psi in (None, 1, 0.3):
        out = tmp_path / f"{psi}{suffix}"
        extra = [] if psi is None else ["--truncation", psi]
        done = invoke(command, "digits", "--n", 2, "--out", out, *extra)
        assert done.exit_code == 0, done.output
        outputs[psi] = out.read_bytes()
    assert outputs[1] == outputs[None] and outputs[0.3] != outputs[None]


@pytest.mark.parametrize("command", ["sample", "paint", "interpolate", "evaluate"])
def test_a_negative_psi_is_one_error_line(command, tmp_path):
    done = invoke(command, "digits", "--truncation", -1)
    assert done.exit_code == 2
    assert "truncation ψ must be at least 0" in done.output
    assert len(done.output.strip().splitlines()) == 1
