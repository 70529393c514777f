"""Decomposition with a rule and no painter (``fpa decompose``) against the truncated SVD."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import fpa
from fpa.cli import app
from fpa.data import build_dataset
from fpa.data.image_file import read_image
from fpa.decomposition import decompose, relative_error, svd_errors, svd_truncation
from fpa.viz import labelled_png

runner = CliRunner()
BUILT_IN_RULES = ("delta", "hebb", "oja")
# Free commands: no activation bounds what a rule may write, so only the rank limits it.
FREE = {"key_activation": "none", "value_activation": "none", "rate_activation": "none"}


@pytest.fixture(scope="module")
def digit():
    """A real digit at 16×16, small enough to fit in a fraction of a second."""
    return read_image("mnist:0", image_size=(16, 16)).unsqueeze(0)


def test_the_truncated_svd_has_the_rank_asked_and_the_error_its_singular_values_say():
    draw = torch.Generator().manual_seed(0)
    images = torch.randn(2, 3, 10, 12, generator=draw, dtype=torch.float64)
    approximation = svd_truncation(images, 4)
    assert torch.linalg.matrix_rank(approximation, atol=1e-9).max() == 4
    from_values = svd_errors(images, [4])[:, 0]
    assert torch.allclose(relative_error(approximation, images), from_values, atol=1e-12)


def test_the_truncated_svd_beats_other_rank_t_approximations():
    """Eckart–Young, checked against the best approximation within random rank-T column
    spaces (least squares onto them), which must never be better."""
    draw = torch.Generator().manual_seed(1)
    image = torch.randn(1, 1, 12, 12, generator=draw, dtype=torch.float64)
    bound = svd_errors(image, [3])[0, 0]
    for _ in range(20):
        basis, _ = torch.linalg.qr(torch.randn(12, 3, generator=draw, dtype=torch.float64))
        projected = basis @ basis.T @ image
        assert relative_error(projected, image)[0] >= bound


@pytest.mark.parametrize("rule", BUILT_IN_RULES)
@pytest.mark.parametrize("free", [False, True], ids=["head-activations", "free"])
def test_no_rule_beats_the_svd_bound(digit, rule, free):
    options = FREE if free else {}
    result = decompose(digit, rule=rule, steps=3, iterations=300, **options)
    assert result.error[0] >= result.svd_error[0] * (1 - 1e-5)
    assert (result.errors_by_step >= result.svd_by_step * (1 - 1e-5)).all()


@pytest.mark.parametrize("rule", BUILT_IN_RULES)
def test_the_error_falls_as_t_grows(digit, rule):
    errors = [
        decompose(digit, rule=rule, steps=steps, iterations=300).error[0].item()
        for steps in (2, 4, 8)
    ]
    assert errors[0] > errors[1] > errors[2], errors


def test_hebb_with_free_keys_and_values_reaches_the_svd_error(digit):
    result = decompose(digit, rule="hebb", steps=4, iterations=600, **FREE)
    assert result.svd_error[0] > 0.05  # four steps cannot paint the digit exactly
    assert result.error[0] <= result.svd_error[0] * 1.02


def test_the_trace_is_the_painting_step_by_step(digit):
    result = decompose(digit, rule="delta", steps=4, iterations=20)
    trace = result.trace
    assert trace.matrices.shape == (1, 4, 1, 16, 16)
    assert torch.allclose(trace.updates.cumsum(dim=1), trace.matrices, atol=1e-5)
    assert torch.equal(trace.painted, trace.matrices[:, -1])
    rule = fpa.build_rule("delta")
    commands = result.commands
    again = rule.paint_by_steps(commands.keys, commands.values, commands.rates)
    assert torch.allclose(again, trace.painted, atol=1e-4)
    for step in range(4):
        assert torch.linalg.matrix_rank(trace.updates[0, step, 0], atol=1e-5) <= 1


def test_images_are_decomposed_independently_of_each_other(digit):
    other = read_image("mnist:1", image_size=(16, 16)).unsqueeze(0)
    together = decompose(torch.cat([digit, other]), rule="oja", steps=3, iterations=50)
    alone = decompose(other, rule="oja", steps=3, iterations=50)
    assert torch.allclose(together.trace.painted[1], alone.trace.painted[0], atol=1e-9)


def test_fpa_decompose_writes_the_figure_animation_and_errors(tmp_path):
    out = tmp_path / "out"
    args = ["decompose", "mnist:3", "--rule", "hebb", "--steps", "4", "--image-size", "16"]
    result = runner.invoke(app, [*args, "--iterations", "30", "--scale", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    names = {"painting.png", "painting.gif", "reconstruction.png"}
    assert names | {"decomposition.json", "commands.pt"} == {p.name for p in out.iterdir()}
    # mnist:3 is the image at index 3, and the output says which digit that is
    names, labels = build_dataset("mnist", image_size=(16, 16), channels=1).class_labels()
    digit = names[int(labels[3])]
    assert result.output.startswith(f"mnist:3 (a {digit}): hebb, T = 4: relative error")
    summary = json.loads((out / "decomposition.json").read_text())
    assert summary["images"] == ["mnist:3"] and len(summary["errors_by_step"][0]) == 4
    assert summary["error"][0] >= summary["svd_error"][0]
    with Image.open(out / "painting.gif") as animation:
        assert animation.n_frames == 4
    # target, painting, SVD: their names above, the image's beside
    names = ["image", "hebb, T=4", "SVD, rank 4"]
    labelled = labelled_png(torch.zeros(3, 1, 16, 16), columns=3, column_names=names)
    with Image.open(io.BytesIO(labelled)) as plain:
        top = plain.height - (18 + 2)
    with Image.open(out / "reconstruction.png") as picture:
        assert picture.width > 3 * 18 + 2 and picture.height == top + 18 + 2
        margin = np.asarray(picture.convert("L"))[top:, : picture.width - (3 * 18 + 2)]
        assert margin.min() < 128  # the row's name, "mnist:3", is written there


@pytest.mark.parametrize(("option", "gate_width"), [([], 1), (["per_column_gate=true"], 16)])
def test_fpa_decompose_passes_rule_options_to_the_rule(tmp_path, option, gate_width):
    """KDA is gated-delta with a gate per key column: the fitted gate has one number per column."""
    out = tmp_path / "out"
    args = ["decompose", "mnist:3", "--rule", "gated-delta", "--steps", "3", "--image-size", "16"]
    options = [arg for value in option for arg in ("--rule-option", value)]
    result = runner.invoke(app, [*args, *options, "--iterations", "5", "--out", str(out)])
    assert result.exit_code == 0, result.output
    commands = torch.load(out / "commands.pt")
    assert commands["gate"].shape[-2:] == (3, gate_width)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nowhere.png"], "is not a file"),
        (["mnist:99999"], "mnist has 5000 images"),
        (["mnist:0", "--rule", "detla"], "did you mean 'delta'"),
        (["mnist:0", "--key-activation", "softmaks"], "did you mean 'softmax'"),
        (["mnist:0", "--every", "40"], "--every must be between 1 and T"),
        (["mnist:0", "--rule-option", "per_column_gate"], "--rule-option takes KEY=VALUE"),
        (["mnist:0", "--rule-option", "bogus=1"], "cannot be built with these options"),
    ],
)
def test_bad_input_is_one_error_line(tmp_path, args, message):
    result = runner.invoke(app, ["decompose", *args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
