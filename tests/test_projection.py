"""Projection of real images into a painter (``fpa project``, ``fpa.project``)."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

import fpa
from fpa.baselines.generator import BaselineConfig, BaselineGenerator
from fpa.cli import app
from fpa.data.image_file import read_image
from fpa.projection import project, psnr

runner = CliRunner()


@pytest.fixture(scope="module")
def painter():
    torch.manual_seed(0)
    generator = fpa.build_generator(image_size=8, paint_steps=4, latent_dim=6, hidden_size=32)
    return generator.eval()


def candidates(painter, count: int, seed: int) -> torch.Tensor:
    """The latents ``project`` starts from, drawn as it draws them."""
    return torch.randn(count, painter.latent_dim, generator=torch.Generator().manual_seed(seed))


def test_psnr_is_infinite_for_equal_images_and_6_db_for_a_constant_offset_of_one():
    image = torch.zeros(1, 1, 4, 4)
    assert psnr(image, image)[0] > 150
    six = 10 * torch.log10(torch.tensor([4.0], dtype=torch.float64))
    assert torch.allclose(psnr(image + 1, image), six)


def test_each_image_starts_from_the_candidate_that_paints_it(painter):
    """Two paintings of candidate latents are found among the candidates, each its own."""
    drawn = candidates(painter, 16, seed=3)
    with torch.no_grad():
        targets = painter(drawn[[11, 2]])
    result = project(painter, targets, steps=0, candidates=16, seed=3)
    assert torch.equal(result.latents, drawn[[11, 2]])
    assert (result.psnr > 100).all()


def test_the_descent_never_ends_worse_than_its_start_and_refining_goes_further(painter):
    image = read_image("mnist:4000", image_size=(8, 8)).unsqueeze(0)
    start = project(painter, image, steps=0, candidates=8)
    latent = project(painter, image, steps=40, candidates=8)
    refined = project(painter, image, steps=40, candidates=8, refine_steps=60, refine_lr=0.2)
    assert latent.psnr[0] >= start.psnr[0] - 1e-4
    assert refined.psnr[0] > latent.psnr[0] + 3.0
    assert refined.refined and not latent.refined


def test_the_latents_repaint_the_projection_and_the_painter_is_left_as_it_was(painter):
    before = {name: value.clone() for name, value in painter.state_dict().items()}
    flags = [parameter.requires_grad for parameter in painter.parameters()]
    image = read_image("mnist:4001", image_size=(8, 8)).unsqueeze(0)
    result = project(painter, image, steps=10, candidates=4)
    with torch.no_grad():
        assert torch.allclose(painter(result.latents), result.images, atol=1e-6)
    assert torch.allclose(result.trace.images, result.images)
    assert all(torch.equal(before[name], value) for name, value in painter.state_dict().items())
    assert flags == [parameter.requires_grad for parameter in painter.parameters()]


def test_a_baseline_cannot_be_projected_into():
    generator = BaselineGenerator(
        config=BaselineConfig(baseline="conv", latent_dim=8, image_size=(8, 8), channels=1)
    )
    with pytest.raises(fpa.ConfigError, match="needs a painter"):
        project(generator, torch.zeros(1, 1, 8, 8))


def test_fpa_project_writes_what_it_promises_and_its_latents_repaint_it(tmp_path):
    out = tmp_path / "out"
    args = ["project", "mnist:4000", "mnist:4001", "--run", "digits", "--out", str(out)]
    done = runner.invoke(app, [*args, "--steps", "5", "--candidates", "8", "--scale", "1"])
    assert done.exit_code == 0, done.output
    expected = {"reconstruction.png", "painting.png", "painting.gif", "projection.json"}
    assert expected | {"latents.pt"} == {path.name for path in out.iterdir()}
    summary = json.loads((out / "projection.json").read_text())
    generator = fpa.load("digits")
    targets = torch.stack([read_image(f"mnist:{i}", image_size=(32, 32)) for i in (4000, 4001)])
    with torch.no_grad():
        again = psnr(generator(torch.load(out / "latents.pt")), targets)
    assert torch.allclose(again.float(), torch.tensor(summary["psnr"]), atol=1e-3)
    assert len(summary["feature_distance"]) == 2 and min(summary["feature_distance"]) > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nowhere.png", "--run", "digits"], "is not a file"),
        (["mnist:0", "--run", "digitz"], "did you mean 'digits'"),
        (["mnist:0", "--run", "digits", "--steps", "-1"], "steps must be a whole number"),
        (["mnist:0", "--run", "digits", "--features", "digitz"], "did you mean 'digits'"),
    ],
)
def test_bad_input_is_one_error_line(tmp_path, args, message):
    done = runner.invoke(app, ["project", *args, "--out", str(tmp_path / "out")])
    assert done.exit_code == 2, done.output
    assert message in done.output and len(done.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_run_on_a_folder_must_name_its_features(tmp_path):
    """A folder's default extractor is Inception, whose weights are not shipped: projection
    says what to do instead of failing on the missing file."""
    painter = fpa.build_generator(image_size=8, paint_steps=2, latent_dim=4, hidden_size=8)
    image = torch.zeros(1, 1, 8, 8)
    with pytest.raises(fpa.ConfigError, match=r"--features .* --feature-weight 0"):
        fpa.project(painter, image, data=str(tmp_path), steps=0, candidates=2)
    done = fpa.project(painter, image, data=str(tmp_path), feature_weight=0, candidates=2)
    assert done.feature_distance is None
    named = fpa.project(painter, image, features="digits", steps=0, candidates=2)
    assert named.feature_distance is not None
