"""Keys and values from a damped cosine basis (``stroke_basis = "cosine"``): the head emits
coefficients, every update stays one rank-1 stroke, and random strokes start smooth."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import fpa
from fpa.painters import PaintHead
from fpa.painters.head import cosine_basis

SMALL = {"hidden_size": 32, "input_size": 16}


def test_the_basis_is_the_dct_with_damped_frequencies():
    basis = cosine_basis(8).double()
    gram = basis.T @ basis
    torch.testing.assert_close(gram, torch.diag(gram.diagonal()), atol=1e-6, rtol=0)
    assert (gram.diagonal().diff() < 0).all()  # higher frequencies weigh less
    torch.testing.assert_close(basis[:, 0], basis[0, 0].expand(8))  # frequency 0 is flat
    # The same variance as the identity: a random coefficient vector keeps its size.
    torch.testing.assert_close(gram.trace(), torch.tensor(8.0, dtype=torch.float64))
    # Frequency k crosses zero k times.
    for k in range(8):
        assert ((basis[:-1, k] * basis[1:, k]) < 0).sum() == k


@pytest.mark.parametrize("strokes", ["per-channel", "coloured"])
def test_the_head_reads_its_output_as_coefficients(strokes):
    torch.manual_seed(0)
    head = PaintHead(
        in_features=8,
        channels=3,
        height=4,
        width=6,
        strokes=strokes,
        stroke_basis="cosine",
        key_activation="none",
    )
    pixel = PaintHead(
        in_features=8, channels=3, height=4, width=6, strokes=strokes, key_activation="none"
    )
    pixel.load_state_dict(head.state_dict())
    features = torch.randn(2, 5, 8)
    got, emitted = head(features), pixel(features)
    # The pixel head's keys are the coefficients the cosine head maps through its basis.
    torch.testing.assert_close(got.keys, emitted.keys @ cosine_basis(6).T)
    torch.testing.assert_close(got.rates, emitted.rates)


def test_random_strokes_start_smoother_than_pixel_strokes():
    """What the basis is for: at initialisation neighbouring entries of a key differ less."""

    def roughness(stroke_basis: str) -> float:
        torch.manual_seed(1)
        head = PaintHead(
            in_features=32,
            channels=3,
            height=32,
            width=32,
            strokes="coloured",
            key_activation="none",
            stroke_basis=stroke_basis,
        )
        with torch.no_grad():
            values = head(torch.randn(16, 8, 32)).values
        return float(values.diff(dim=-1).abs().mean() / values.abs().mean())

    assert roughness("cosine") < 0.6 * roughness("pixel")


@settings(max_examples=10, deadline=None)
@given(
    rule=st.sampled_from(["hebb", "delta", "oja"]),
    strokes=st.sampled_from(["per-channel", "shared-key", "coloured"]),
    scale=st.sampled_from([1, 2]),
    seed=st.integers(0, 100),
)
def test_cosine_strokes_are_rank_one_and_paint_the_same_step_by_step(rule, strokes, scale, seed):
    torch.manual_seed(seed)
    generator = (
        fpa.build_generator(
            **SMALL,
            image_size=(6, 12),
            paint_steps=4,
            latent_dim=10,
            channels=3,
            rule=rule,
            strokes=strokes,
            stroke_scale=scale,
            stroke_basis="cosine",
        )
        .double()
        .eval()
    )
    z = torch.randn(3, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    trace = generator.paint_trace(z)
    assert torch.linalg.matrix_rank(trace.updates, atol=1e-9).max() <= 1
    commands = trace.commands
    by_steps = generator.rule.paint_by_steps(commands.keys, commands.values, commands.rates)
    torch.testing.assert_close(trace.matrices[:, -1], by_steps)


def test_the_basis_round_trips_and_a_bad_one_is_a_readable_error():
    config = fpa.GeneratorConfig(channels=3, stroke_basis="cosine")
    assert fpa.GeneratorConfig(**config.to_dict()).stroke_basis == "cosine"
    with pytest.raises(fpa.ConfigError, match="did you mean 'cosine'"):
        fpa.GeneratorConfig(stroke_basis="cosin")
