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


@pytest.mark.parametrize("strokes", ["per-channel", "shared-key", "coloured"])
def test_a_coarse_head_emits_what_a_head_for_the_coarse_picture_emits(strokes):
    """At stroke_scale 2 a 4×6 picture's head emits keys of 3 and values of 2 numbers, as a
    full-scale head of a 2×3 picture does (tests/test_colour.py counts those), and stretches
    them to 6 and 4."""
    head = PaintHead(in_features=8, channels=3, height=4, width=6, strokes=strokes, stroke_scale=2)
    coarse = PaintHead(in_features=8, channels=3, height=2, width=3, strokes=strokes)
    assert head.linear.out_features == coarse.linear.out_features
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


@pytest.mark.parametrize("scale", [0, 5, -2])
def test_a_stroke_scale_that_does_not_divide_the_image_is_a_readable_error(scale):
    with pytest.raises(fpa.ConfigError, match=r"stroke_scale must be ≥ 1 and divide .*6×12"):
        fpa.GeneratorConfig(image_size=(6, 12), stroke_scale=scale)
