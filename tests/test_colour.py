"""Colour painting: strokes shared by the channels, and the colour basis painted in."""

from __future__ import annotations

import pytest
import torch
from einops import rearrange

import fpa
from fpa.painters import PaintHead
from fpa.rules import delta as delta_module
from fpa.rules.base import solve_unit_lower

SMALL = {"hidden_size": 32, "input_size": 16}


def colour_generator(*, seed=0, **options):
    torch.manual_seed(seed)
    options = {"image_size": (7, 9), "channels": 3, "paint_steps": 6, "latent_dim": 10, **options}
    return fpa.build_generator(**SMALL, **options).double().eval()


def head(strokes: str, *, per_row_rate: bool = False, updates_per_step: int = 1) -> PaintHead:
    torch.manual_seed(0)
    return PaintHead(
        in_features=16,
        channels=3,
        height=4,
        width=5,
        strokes=strokes,
        per_row_rate=per_row_rate,
        updates_per_step=updates_per_step,
    ).double()


@pytest.mark.parametrize(
    ("strokes", "numbers_per_update"),
    # W = 5, H = 4, R = 1, C = 3.
    [
        ("per-channel", 3 * (5 + 4 + 1)),
        ("shared-key", 5 + 3 * (4 + 1)),
        ("coloured", 5 + 4 + 1 + 3),
    ],
)
def test_the_head_emits_one_set_of_numbers_per_shared_part(strokes, numbers_per_update):
    assert head(strokes, updates_per_step=2).linear.out_features == 2 * numbers_per_update


@pytest.mark.parametrize("per_row_rate", [False, True])
@pytest.mark.parametrize("updates_per_step", [1, 2])
def test_shared_strokes_give_every_channel_the_same_key(per_row_rate, updates_per_step):
    features = torch.randn(2, 3, 16, dtype=torch.float64)
    shared = head("shared-key", per_row_rate=per_row_rate, updates_per_step=updates_per_step)
    commands = shared(features)
    steps = 3 * updates_per_step
    assert commands.keys.shape == (2, 3, steps, 5)
    assert commands.values.shape == (2, 3, steps, 4)
    assert commands.rates.shape == (2, 3, steps, 4 if per_row_rate else 1)
    torch.testing.assert_close(commands.keys[:, 1], commands.keys[:, 0])
    torch.testing.assert_close(commands.keys.sum(-1), torch.ones(2, 3, steps, dtype=torch.float64))
    assert not torch.allclose(commands.values[:, 1], commands.values[:, 0])
    assert not torch.allclose(commands.rates[:, 1], commands.rates[:, 0])


def test_a_coloured_stroke_is_one_value_scaled_by_a_colour_per_channel():
    coloured = head("coloured", updates_per_step=2)
    features = torch.randn(2, 3, 16, dtype=torch.float64)
    commands = coloured(features)
    torch.testing.assert_close(commands.keys[:, 2], commands.keys[:, 0])
    torch.testing.assert_close(commands.rates[:, 2], commands.rates[:, 0])
    # Read the raw numbers of controller step 1's second update: key 5, value 4, rate 1, colour 3.
    raw = coloured.linear(features[:, 1]).view(2, 2, 13)[:, 1]
    value, colour = raw[:, 5:9], raw[:, 10:13]
    expected = colour[:, :, None] * value[:, None, :]
    torch.testing.assert_close(commands.values[:, :, 3], expected)
    torch.testing.assert_close(commands.keys[:, 0, 3], raw[:, :5].softmax(-1))


@pytest.mark.parametrize("rule", ["hebb", "delta", "oja"])
@pytest.mark.parametrize("strokes", ["shared-key", "coloured"])
def test_shared_strokes_keep_rank_one_updates_and_the_step_form(rule, strokes):
    generator = colour_generator(rule=rule, strokes=strokes, per_row_rate=True)
    z = torch.randn(4, 10, dtype=torch.float64)
    trace = generator.paint_trace(z)
    assert torch.linalg.matrix_rank(trace.updates, atol=1e-9).max() <= 1
    commands = trace.commands
    by_steps = generator.rule.paint_by_steps(commands.keys, commands.values, commands.rates)
    torch.testing.assert_close(trace.matrices[:, -1], by_steps)
    stepwise = colour_generator(rule=rule, strokes=strokes, per_row_rate=True, rule_impl="step")
    stepwise.load_state_dict(generator.state_dict())
    grads = []
    for model in (generator, stepwise):
        model.zero_grad()
        model(z).square().sum().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    torch.testing.assert_close(stepwise(z), generator(z))
    for parallel, step in zip(*grads, strict=True):
        torch.testing.assert_close(parallel, step)


@pytest.mark.parametrize("rule", ["hebb", "delta"])
@pytest.mark.parametrize("strokes", ["shared-key", "coloured"])
def test_with_a_shared_key_the_channels_write_the_same_columns(rule, strokes):
    """Hebb and delta write ``something · k_tᵀ``: with one key, the three channels' updates
    at a step stacked on top of each other are still rank 1 (one stroke shape)."""
    trace = colour_generator(rule=rule, strokes=strokes).paint_trace(torch.randn(4, 10).double())
    stacked = rearrange(trace.updates, "batch step channel row col -> batch step (channel row) col")
    assert torch.linalg.matrix_rank(stacked, atol=1e-9).max() <= 1
    per_channel = colour_generator(rule=rule).paint_trace(torch.randn(4, 10).double())
    stacked = rearrange(
        per_channel.updates, "batch step channel row col -> batch step (channel row) col"
    )
    assert torch.linalg.matrix_rank(stacked, atol=1e-9).max() > 1


@pytest.mark.parametrize("per_row_rate", [False, True])
@pytest.mark.parametrize("learned_canvas", [False, True])
def test_coloured_delta_strokes_build_and_solve_one_system_for_all_channels(
    monkeypatch, per_row_rate, learned_canvas
):
    """The channels of a coloured stroke share its key and rate, so the delta rule's
    triangular system has no channel axis: it is solved once, the channels as columns."""
    systems = []

    def recording_solve(lower, rhs):
        systems.append(tuple(lower.shape))
        return solve_unit_lower(lower, rhs)

    monkeypatch.setattr(delta_module, "solve_unit_lower", recording_solve)
    generator = colour_generator(
        rule="delta", strokes="coloured", per_row_rate=per_row_rate, learned_canvas=learned_canvas
    )
    generator(torch.randn(4, 10, dtype=torch.float64))
    height, steps = 7, 6
    per_row = (height,) if per_row_rate else ()
    assert systems == [(4, *per_row, steps, steps)]
    systems.clear()
    colour_generator(rule="delta", per_row_rate=per_row_rate)(torch.randn(4, 10).double())
    assert systems == [(4, 3, *per_row, steps, steps)]


def test_a_coloured_hebbian_stroke_is_one_matrix_in_three_colours():
    trace = colour_generator(rule="hebb", strokes="coloured").paint_trace(
        torch.randn(4, 10).double()
    )
    flat = rearrange(trace.updates, "batch step channel row col -> batch step channel (row col)")
    assert torch.linalg.matrix_rank(flat, atol=1e-9).max() <= 1


def test_ycbcr_paints_luminance_and_chroma():
    generator = colour_generator(colour_basis="ycbcr", output_activation="none")
    luminance, red_chroma = 0.3, 0.2
    painted = torch.zeros(1, 3, 7, 9, dtype=torch.float64)
    painted[:, 0], painted[:, 2] = luminance, red_chroma
    pixels = generator.to_pixels(painted)
    # Full-range YCbCr (ITU-T T.871): R = Y + 1.402 Cr, G = Y − 0.714136 Cr, B = Y when Cb = 0.
    expected = torch.tensor([0.3 + 1.402 * 0.2, 0.3 - 0.714136 * 0.2, 0.3], dtype=torch.float64)
    torch.testing.assert_close(pixels[0, :, 3, 4], expected)
    grey = torch.zeros_like(painted)
    grey[:, 0] = luminance
    pixels = generator.to_pixels(grey)
    torch.testing.assert_close(pixels[:, 1], pixels[:, 0])
    torch.testing.assert_close(pixels[:, 2], pixels[:, 0])


def test_the_picture_and_its_trace_go_through_the_colour_basis():
    generator = colour_generator(colour_basis="ycbcr")
    z = torch.randn(3, 10, dtype=torch.float64)
    trace = generator.paint_trace(z)
    mixing = torch.tensor(
        [[1.0, 0.0, 1.402], [1.0, -0.344136, -0.714136], [1.0, 1.772, 0.0]], dtype=torch.float64
    )
    final = trace.matrices[:, -1]
    expected = torch.tanh(torch.einsum("oc,bchw->bohw", mixing, final))
    torch.testing.assert_close(trace.painted, expected)
    torch.testing.assert_close(generator(z), expected)


def test_a_learned_basis_starts_as_the_identity_and_learns():
    direct = colour_generator()
    learned = colour_generator(colour_basis="learned")
    state = learned.state_dict()
    assert set(state) - set(direct.state_dict()) == {"colour_basis.mixing"}
    learned.load_state_dict(
        {**direct.state_dict(), "colour_basis.mixing": state["colour_basis.mixing"]}
    )
    z = torch.randn(3, 10, dtype=torch.float64)
    torch.testing.assert_close(learned(z), direct(z))
    learned(z).square().sum().backward()
    assert learned.colour_basis.mixing.grad.abs().sum() > 0


def test_colour_and_stroke_options_round_trip_through_the_config():
    generator = colour_generator(
        image_size=(6, 12), strokes="coloured", colour_basis="learned", stroke_scale=3
    )
    rebuilt = fpa.FastWeightPainter(
        config=fpa.GeneratorConfig.from_dict(generator.config.to_dict())
    ).double()
    rebuilt.load_state_dict(generator.state_dict())
    z = torch.randn(2, 10, dtype=torch.float64)
    torch.testing.assert_close(rebuilt.eval()(z), generator(z))
    assert rebuilt.config.strokes == "coloured"
    assert rebuilt.config.stroke_scale == 3


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"strokes": "colored"}, "did you mean 'coloured'"),
        ({"colour_basis": "ycbcr", "channels": 1}, "3 channels"),
        ({"colour_basis": "lab"}, "colour_basis must be one of"),
    ],
)
def test_bad_colour_options_are_readable_errors(options, message):
    with pytest.raises(fpa.ConfigError, match=message):
        fpa.GeneratorConfig(**options)
