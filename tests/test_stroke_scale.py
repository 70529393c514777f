"""Coarse strokes (``stroke_scale``): keys and values emitted at W/s and H/s entries and
stretched linearly over the image, each update still one rank-1 stroke."""

from __future__ import annotations

import pytest
import torch
from einops import rearrange
from hypothesis import given, settings
from hypothesis import strategies as st

import fpa
from fpa.painters import PaintHead
from fpa.painters.head import stretch

SMALL = {"hidden_size": 32, "input_size": 16}


def scaled_generator(*, seed=0, **options):
    torch.manual_seed(seed)
    options = {"image_size": (6, 12), "paint_steps": 4, "latent_dim": 10, **options}
    return fpa.build_generator(**SMALL, **options).double().eval()


def test_stretching_interpolates_between_pixel_centres():
    coarse = torch.arange(4, dtype=torch.float64)
    stretched = stretch(coarse, 8)
    # Fine pixel i sits at coarse position (i + 0.5) / 2 − 0.5; past the outer centres the
    # nearest coarse entry holds.
    expected = torch.tensor([(i + 0.5) / 2 - 0.5 for i in range(8)]).clamp(0, 3).double()
    torch.testing.assert_close(stretched, expected)
    torch.testing.assert_close(stretch(torch.full((2, 3), 0.7), 12), torch.full((2, 12), 0.7))
    assert stretch(coarse, 4) is coarse


@pytest.mark.parametrize(
    ("strokes", "numbers_per_update"),
    # H = 4, W = 6 at stroke_scale 2: keys of 3, values of 2, one rate, C = 3.
    [
        ("per-channel", 3 * (3 + 2 + 1)),
        ("shared-key", 3 + 3 * (2 + 1)),
        ("coloured", 3 + 2 + 1 + 3),
    ],
)
def test_a_coarse_head_emits_one_number_per_s_pixels(strokes, numbers_per_update):
    head = PaintHead(in_features=8, channels=3, height=4, width=6, strokes=strokes, stroke_scale=2)
    assert head.linear.out_features == numbers_per_update
    commands = head(torch.randn(2, 5, 8))
    assert commands.keys.shape == (2, 3, 5, 6)
    assert commands.values.shape == (2, 3, 5, 4)


@settings(max_examples=12, deadline=None)
@given(
    rule=st.sampled_from(["hebb", "delta", "oja"]),
    strokes=st.sampled_from(["per-channel", "coloured"]),
    scale=st.sampled_from([2, 3, 6]),
    seed=st.integers(0, 100),
)
def test_coarse_strokes_are_rank_one_smooth_and_paint_the_same_step_by_step(
    rule, strokes, scale, seed
):
    generator = scaled_generator(
        rule=rule, strokes=strokes, channels=3, stroke_scale=scale, seed=seed
    )
    z = torch.randn(3, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    trace = generator.paint_trace(z)
    assert torch.linalg.matrix_rank(trace.updates, atol=1e-9).max() <= 1
    # Every key is a stretched vector of 12 / s numbers: all keys of all paintings together
    # span at most 12 / s dimensions, and all values at most 6 / s.
    keys = rearrange(trace.commands.keys, "batch channel step col -> (batch channel step) col")
    values = rearrange(trace.commands.values, "batch channel step row -> (batch channel step) row")
    assert torch.linalg.matrix_rank(keys, atol=1e-9) <= 12 // scale
    assert torch.linalg.matrix_rank(values, atol=1e-9) <= 6 // scale
    commands = trace.commands
    by_steps = generator.rule.paint_by_steps(commands.keys, commands.values, commands.rates)
    torch.testing.assert_close(trace.matrices[:, -1], by_steps)


def test_full_scale_keys_span_more_than_coarse_ones():
    """The rank bound above can fail: at stroke_scale 1 the keys span the image's width."""
    trace = scaled_generator(paint_steps=12).paint_trace(torch.randn(4, 10).double())
    keys = rearrange(trace.commands.keys, "batch channel step col -> (batch channel step) col")
    assert torch.linalg.matrix_rank(keys, atol=1e-9) > 12 // 2


def test_stroke_scale_round_trips_through_the_config():
    generator = scaled_generator(stroke_scale=3, channels=3, strokes="coloured")
    rebuilt = fpa.FastWeightPainter(
        config=fpa.GeneratorConfig.from_dict(generator.config.to_dict())
    ).double()
    rebuilt.load_state_dict(generator.state_dict())
    z = torch.randn(2, 10, dtype=torch.float64)
    torch.testing.assert_close(rebuilt.eval()(z), generator(z))
    assert rebuilt.config.stroke_scale == 3


@pytest.mark.parametrize("scale", [0, 5, -2])
def test_a_stroke_scale_that_does_not_divide_the_image_is_a_readable_error(scale):
    with pytest.raises(fpa.ConfigError, match=r"stroke_scale must be ≥ 1 and divide .*6×12"):
        fpa.GeneratorConfig(image_size=(6, 12), stroke_scale=scale)
