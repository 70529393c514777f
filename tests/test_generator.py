"""The composed generator: shapes, the paint trace's invariants, batch independence, config."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import fpa
from conftest import plugged_in
from fpa.generator import painting_record
from rule_fixtures import ThirdPartyRules

SMALL = {"hidden_size": 32, "input_size": 16}
SMALL_TRANSFORMER = {"hidden_size": 32, "num_layers": 2, "num_heads": 2, "input_size": 16}
SMALL_MLP = {"hidden_size": 24, "code_size": 16}
PAINTER_OPTIONS = {"lstm": SMALL, "transformer": SMALL_TRANSFORMER, "mlp": SMALL_MLP}
PAINTERS = tuple(PAINTER_OPTIONS)


def small_generator(*, painter="lstm", seed=0, **options):
    torch.manual_seed(seed)
    painter_options = PAINTER_OPTIONS[painter]
    options = {"image_size": 12, "channels": 3, "paint_steps": 6, "latent_dim": 10, **options}
    return fpa.build_generator(painter=painter, **painter_options, **options).double().eval()


@pytest.mark.parametrize("painter", PAINTERS)
@pytest.mark.parametrize("rule", ["hebb", "delta", "oja", "gated-delta", "gated-hebb"])
@pytest.mark.parametrize(("image_size", "channels"), [(8, 1), ((6, 10), 3), ((10, 6), 4)])
def test_images_have_the_asked_shape_and_range(painter, rule, image_size, channels):
    generator = small_generator(
        painter=painter, rule=rule, image_size=image_size, channels=channels
    )
    images = generator(torch.randn(5, 10, dtype=torch.float64))
    height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    assert images.shape == (5, channels, height, width)
    assert images.abs().max() <= 1.0
    assert torch.isfinite(images).all()


@pytest.mark.parametrize("painter", PAINTERS)
@pytest.mark.parametrize("rule", ["hebb", "delta", "oja"])
def test_paint_trace_invariants(painter, rule):
    generator = small_generator(painter=painter, rule=rule, image_size=(7, 9), per_row_rate=True)
    z = torch.randn(4, 10, dtype=torch.float64)
    trace = generator.paint_trace(z)
    assert trace.matrices.shape == (4, 6, 3, 7, 9) == trace.updates.shape
    torch.testing.assert_close(trace.updates.cumsum(dim=1), trace.matrices)
    ranks = torch.linalg.matrix_rank(trace.updates, atol=1e-9)
    assert ranks.max() <= 1
    assert (ranks == 1).any(), "a painting that never paints anything is not a painting"
    torch.testing.assert_close(trace.images, generator(z), rtol=0, atol=1e-12)
    torch.testing.assert_close(trace.painted, torch.tanh(trace.matrices[:, -1]))


@given(seed=st.integers(0, 1000), changed=st.integers(0, 3))
def test_changing_one_latent_leaves_the_other_images_unchanged(seed, changed):
    for painter in PAINTERS:
        generator = small_generator(painter=painter)
        z = torch.randn(4, 10, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        moved = z.clone()
        moved[changed] = -moved[changed] + 0.5
        before, after = generator(z), generator(moved)
        keep = [i for i in range(4) if i != changed]
        torch.testing.assert_close(before[keep], after[keep], rtol=0, atol=1e-12)
        assert not torch.allclose(before[changed], after[changed])


@pytest.mark.parametrize("rule", ["hebb", "delta", "oja", "gated-delta", "gated-hebb"])
def test_step_implementation_matches_parallel_in_values_and_gradients(rule):
    parallel = small_generator(rule=rule, per_row_rate=True)
    stepwise = small_generator(rule=rule, per_row_rate=True, rule_impl="step")
    stepwise.load_state_dict(parallel.state_dict())
    z = torch.randn(3, 10, dtype=torch.float64)
    results = []
    for generator in (parallel, stepwise):
        generator.zero_grad()
        images = generator(z)
        images.square().sum().backward()
        results.append((images, [p.grad.clone() for p in generator.parameters()]))
    torch.testing.assert_close(results[0][0], results[1][0])
    for fast, slow in zip(results[0][1], results[1][1], strict=True):
        torch.testing.assert_close(fast, slow)


def test_config_round_trips_and_rebuilds_the_same_generator():
    generator = small_generator(rule="oja", rule_options={}, key_activation="l2")
    data = generator.config.to_dict()
    rebuilt = fpa.FastWeightPainter(config=fpa.GeneratorConfig.from_dict(data)).double().eval()
    rebuilt.load_state_dict(generator.state_dict())
    z = torch.randn(2, 10, dtype=torch.float64)
    torch.testing.assert_close(rebuilt(z), generator(z))
    assert rebuilt.config == generator.config


def test_a_third_party_rule_paints_a_generator():
    with plugged_in(ThirdPartyRules(), name="test-rules"):
        generator = small_generator(rule="step-only-delta")
        reference = small_generator(rule="delta")
        reference.load_state_dict(generator.state_dict())
    z = torch.randn(2, 10, dtype=torch.float64)
    torch.testing.assert_close(generator(z), reference(z))


@pytest.mark.parametrize(
    ("rule", "asked", "used"),
    [
        ("delta", "parallel", "parallel"),
        ("delta", "step", "step"),
        ("step-only-delta", "parallel", "step"),
    ],
)
def test_the_generator_says_what_paints_and_its_config_keeps_what_was_asked(rule, asked, used):
    with plugged_in(ThirdPartyRules(), name="test-rules"):
        generator = small_generator(rule=rule, rule_impl=asked)
        assert generator.rule_impl_used == used
        assert generator.config.rule_impl == asked
        record = painting_record(generator.config)
    assert record["rule_impl_used"] == used
    fallback = asked != used
    assert ("note" in record) == fallback
    if fallback:
        assert record["note"] == "step loop: rule 'step-only-delta' has no parallel form"


def test_the_latent_feeds_the_image_through_every_v_mode():
    for mode in ("v1", "v2"):
        generator = small_generator(input_mode=mode)
        z = torch.randn(2, 10, dtype=torch.float64, requires_grad=True)
        generator(z).sum().backward()
        assert z.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rule": "deltaa"}, "did you mean 'delta'"),
        ({"painter": "lstn"}, "did you mean 'lstm'"),
        ({"key_activation": "softmx"}, "did you mean 'softmax'"),
        ({"input_mode": "v3"}, "input mode"),
        ({"hidden": 3}, "it takes:"),
        ({"image_size": (4, 4, 4)}, "image_size"),
        ({"paint_steps": 0}, "paint_steps"),
        ({"rule_impl": "fast"}, "rule_impl"),
    ],
)
def test_bad_generator_options_give_readable_errors(options, message):
    with pytest.raises(fpa.FpaError, match=message):
        fpa.build_generator(**{"image_size": 8, "paint_steps": 2, **options})


def test_wrong_latent_shape_is_a_readable_error():
    generator = small_generator()
    with pytest.raises(fpa.ConfigError, match=r"\(B, 10\)"):
        generator(torch.randn(3, 11, dtype=torch.float64))


@pytest.mark.parametrize("rule", ["hebb", "delta", "oja"])
@pytest.mark.parametrize("rule_impl", ["parallel", "step"])
def test_learned_canvas_is_the_starting_matrix(rule, rule_impl):
    generator = small_generator(rule=rule, learned_canvas=True, rule_impl=rule_impl)
    with torch.no_grad():
        generator.canvas.copy_(torch.randn_like(generator.canvas))
    z = torch.randn(3, 10, dtype=torch.float64)
    trace = generator.paint_trace(z)
    start = generator.canvas.expand(3, -1, -1, -1)
    torch.testing.assert_close(trace.updates.cumsum(dim=1) + start.unsqueeze(1), trace.matrices)
    assert torch.linalg.matrix_rank(trace.updates, atol=1e-9).max() <= 1
    commands = generator.commands(z)
    expected = generator.rule.paint_by_steps(
        commands.keys, commands.values, commands.rates, initial=start
    )
    torch.testing.assert_close(trace.matrices[:, -1], expected)
    (generator(z).sum()).backward()
    assert generator.canvas.grad.abs().sum() > 0


def test_normalized_features_make_the_head_blind_to_feature_scale():
    from fpa.painters import PaintHead

    torch.manual_seed(0)
    features = torch.randn(2, 5, 16, dtype=torch.float64)
    for normalize in (True, False):
        head = PaintHead(
            in_features=16, channels=2, height=4, width=3, normalize_features=normalize
        ).double()
        same = torch.allclose(head(features).values, head(10 * features).values, atol=1e-4)
        assert same is normalize


@pytest.mark.parametrize(("per_row_rate", "rate_size"), [(False, 1), (True, 4)])
@pytest.mark.parametrize("updates_per_step", [1, 2])
def test_the_head_emits_rates_in_the_rules_layout(per_row_rate, rate_size, updates_per_step):
    from fpa.painters import PaintHead

    torch.manual_seed(0)
    head = PaintHead(
        in_features=16,
        channels=2,
        height=4,
        width=3,
        per_row_rate=per_row_rate,
        updates_per_step=updates_per_step,
    ).double()
    commands = head(torch.randn(5, 3, 16, dtype=torch.float64))
    steps = 3 * updates_per_step
    assert commands.keys.shape == (5, 2, steps, 3)
    assert commands.values.shape == (5, 2, steps, 4)
    assert commands.rates.shape == (5, 2, steps, rate_size)
    fpa.build_rule("delta").paint(commands.keys, commands.values, commands.rates)


@pytest.mark.parametrize("painter", PAINTERS)
def test_several_updates_per_controller_step(painter):
    generator = small_generator(
        painter=painter, paint_steps=6, updates_per_step=3, per_row_rate=True
    )
    z = torch.randn(4, 10, dtype=torch.float64)
    features = generator.painter(z)
    assert features.shape[:2] == (4, 2), "the controller runs T / U steps"
    commands = generator.commands(z)
    assert commands.keys.shape == (4, 3, 6, 12)
    # Controller step s writes updates s·U .. s·U + U − 1: the head's outputs for one controller
    # step, read in order, are the commands of those rule steps.
    raw = generator.head.linear(generator.head.norm(features[:, 1]))
    first_of_step_1 = raw.view(4, 3, 3, -1)[:, 0, :, :12].softmax(dim=-1)
    torch.testing.assert_close(commands.keys[:, :, 3], first_of_step_1)
    trace = generator.paint_trace(z)
    assert trace.updates.shape == (4, 6, 3, 12, 12)
    assert torch.linalg.matrix_rank(trace.updates, atol=1e-9).max() <= 1
    expected = generator.rule.paint_by_steps(commands.keys, commands.values, commands.rates)
    torch.testing.assert_close(trace.matrices[:, -1], expected)


@pytest.mark.parametrize(("steps", "updates"), [(6, 4), (6, 0)])
def test_updates_per_step_must_divide_the_steps(steps, updates):
    with pytest.raises(fpa.ConfigError, match="updates_per_step"):
        small_generator(paint_steps=steps, updates_per_step=updates)


def test_the_mlp_painter_reads_each_step_from_its_own_slice_of_one_layer():
    generator = small_generator(painter="mlp", paint_steps=6)
    z = torch.randn(3, 10, dtype=torch.float64)
    features = generator.painter(z)
    assert features.shape == (3, 6, SMALL_MLP["code_size"])
    # No recurrence: step s's features are numbers s·code .. (s+1)·code − 1 of the last layer,
    # so zeroing one step's slice of that layer changes that step's features and no other's.
    last = generator.painter.net[-1]
    with torch.no_grad():
        rows = slice(2 * SMALL_MLP["code_size"], 3 * SMALL_MLP["code_size"])
        last.weight[rows] = 0
        last.bias[rows] = 0
    changed = generator.painter(z)
    assert torch.equal(changed[:, 2], torch.zeros_like(changed[:, 2]))
    others = [0, 1, 3, 4, 5]
    torch.testing.assert_close(changed[:, others], features[:, others], rtol=0, atol=0)


@pytest.mark.parametrize("option", ["hidden_size", "code_size", "num_layers"])
def test_the_mlp_painter_refuses_empty_layers(option):
    with pytest.raises(fpa.ConfigError, match="mlp painter"):
        fpa.build_generator(painter="mlp", **{**SMALL_MLP, option: 0})
