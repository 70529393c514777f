"""The gated rules' own properties and the commands contract (docs/design.md §3)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import fpa
from conftest import plugged_in
from fpa.rules.base import LearningRule
from fpa.rules.gated import chunked_overlap, decay_from, log_decays
from rule_fixtures import ThirdPartyRules
from tiny_runs import tiny

# (gated rule, its options, the rule it becomes with every command at its neutral value)
REDUCTIONS = [
    ("gated-delta", {}, "delta"),
    ("gated-delta", {"per_column_gate": True}, "delta"),
    ("gated-hebb", {}, "hebb"),
    ("gated-hebb", {"per_column_gate": True}, "hebb"),
    ("dplr", {}, "hebb"),
    ("momentum-delta", {}, "delta"),
]


def random_problem(seed: int, *, per_row: bool, with_initial: bool, steps: int = 6):
    generator = torch.Generator().manual_seed(seed)
    batch, channels, height, width = 2, 2, 5, 4

    def normal(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    keys = normal(batch, channels, steps, width) / width**0.5
    values = normal(batch, channels, steps, height)
    rates = torch.rand(batch, channels, steps, height if per_row else 1, generator=generator)
    initial = normal(batch, channels, height, width) if with_initial else None
    return keys, values, rates.double(), initial


def neutral_commands(rule: LearningRule, keys: torch.Tensor, values: torch.Tensor) -> dict:
    """Every declared command at its neutral value (a gate at 1), ``(..., T, size)``."""
    return {
        command.name: keys.new_full(
            (*keys.shape[:-1], command.width(height=values.shape[-1], width=keys.shape[-1])),
            command.neutral,
        )
        for command in rule.commands
    }


@pytest.mark.parametrize(("name", "options", "plain"), REDUCTIONS)
@given(seed=st.integers(0, 2**31 - 1), per_row=st.booleans(), with_initial=st.booleans())
def test_with_every_command_neutral_a_rule_is_its_plain_rule(
    name, options, plain, seed, per_row, with_initial
):
    gated, reference = fpa.build_rule(name, **options), fpa.build_rule(plain)
    keys, values, rates, initial = random_problem(seed, per_row=per_row, with_initial=with_initial)
    neutral = neutral_commands(gated, keys, values)
    stepped = gated.paint_by_steps(keys, values, rates, initial=initial, **neutral)
    assert torch.equal(stepped, reference.paint_by_steps(keys, values, rates, initial=initial))
    for return_all in (False, True):
        fast = gated.paint(keys, values, rates, initial=initial, return_all=return_all, **neutral)
        expected = reference.paint(keys, values, rates, initial=initial, return_all=return_all)
        torch.testing.assert_close(fast, expected, rtol=0, atol=1e-12)


def test_gated_delta_step_is_the_papers_equation():
    """``α M (I − β k kᵀ) + β v kᵀ`` (Gated DeltaNet's S_t with values on the rows)."""
    generator = torch.Generator().manual_seed(0)
    matrix = torch.randn(5, 4, generator=generator, dtype=torch.float64)
    key = torch.randn(4, generator=generator, dtype=torch.float64)
    value = torch.randn(5, generator=generator, dtype=torch.float64)
    alpha, beta = torch.tensor([0.7], dtype=torch.float64), torch.tensor([0.3], dtype=torch.float64)
    projector = torch.eye(4, dtype=torch.float64) - beta * torch.outer(key, key)
    expected = alpha * matrix @ projector + beta * torch.outer(value, key)
    got = fpa.build_rule("gated-delta").step(matrix, key, value, beta, gate=alpha)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-14)


def test_gated_hebb_with_a_gate_per_column_decays_each_column():
    """``M diag(α) + β v kᵀ``: the gate scales the key side's columns."""
    generator = torch.Generator().manual_seed(1)
    matrix = torch.randn(5, 4, generator=generator, dtype=torch.float64)
    key, value = torch.randn(4, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    alpha, beta = torch.rand(4, dtype=torch.float64), torch.tensor([0.5], dtype=torch.float64)
    expected = matrix @ torch.diag(alpha) + beta * torch.outer(value, key)
    rule = fpa.build_rule("gated-hebb", per_column_gate=True)
    got = rule.step(matrix, key, value, beta, gate=alpha)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-14)


def test_tiny_gates_forget_without_overflow():
    """The decays are formed in log space: gates near 0 over many steps stay finite."""
    keys, values, rates, initial = random_problem(2, per_row=False, with_initial=True)
    rule = fpa.build_rule("gated-delta")
    gate = torch.full((*keys.shape[:-1], 1), 1e-30, dtype=torch.float64)
    painted = rule.paint(keys, values, rates, initial=initial, gate=gate, return_all=True)
    folded = rule.paint_by_steps(keys, values, rates, initial=initial, gate=gate, return_all=True)
    assert torch.isfinite(painted).all()
    torch.testing.assert_close(painted, folded, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", ["gated-delta", "gated-hebb"])
def test_missing_or_misshapen_commands_give_a_readable_error(name):
    rule = fpa.build_rule(name)
    keys, values, rates, _ = random_problem(3, per_row=False, with_initial=False)
    for paint in (rule.paint, rule.paint_by_steps):
        with pytest.raises(fpa.ConfigError, match=r"takes the commands \['gate'\]"):
            paint(keys, values, rates)
        with pytest.raises(fpa.ConfigError, match="command 'gate' must have shape"):
            paint(keys, values, rates, gate=torch.ones(*keys.shape[:-1], 3))
    with pytest.raises(fpa.ConfigError, match="takes the commands none"):
        fpa.build_rule("delta").paint(keys, values, rates, gate=torch.ones(*keys.shape[:-1], 1))


def test_a_command_with_an_unknown_size_is_refused():
    with pytest.raises(fpa.ConfigError, match="size must be one of one, column, row"):
        fpa.Command("gate", size="pixel")


@pytest.mark.parametrize("strokes", ["per-channel", "shared-key", "coloured"])
def test_a_rule_without_commands_keeps_the_heads_layer(strokes):
    """Old checkpoints load: the linear layer of a rule with no commands is what it was."""
    generator = fpa.build_generator(
        rule="delta", channels=3, image_size=(8, 6), paint_steps=4, strokes=strokes
    )
    parts = {
        "per-channel": 3 * (6 + 8 + 1),
        "shared-key": 6 + 3 * (8 + 1),
        "coloured": 6 + 8 + 1 + 3,
    }
    assert generator.head.linear.out_features == parts[strokes]
    assert generator.commands(generator.sample_latents(2)).extra == {}


@pytest.mark.parametrize("strokes", ["per-channel", "shared-key", "coloured"])
@pytest.mark.parametrize(
    ("name", "options", "size"),
    [
        ("gated-delta", {}, 1),
        ("gated-hebb", {"per_column_gate": True}, 6),
        ("row-decay-hebb", {}, 8),
    ],
)
def test_the_head_emits_the_commands_the_rule_declares(strokes, name, options, size):
    """fpa's gated rules and a third party's rule with a command of its own."""
    torch.manual_seed(0)
    with plugged_in(ThirdPartyRules(), name="test-rules"):
        generator = fpa.build_generator(
            rule=name,
            rule_options=options,
            channels=3,
            image_size=(8, 6),
            paint_steps=4,
            updates_per_step=2,
            strokes=strokes,
        )
    plain = fpa.build_generator(
        rule="delta", channels=3, image_size=(8, 6), paint_steps=4, strokes=strokes
    )
    (command,) = generator.rule.commands
    copies = 1 if strokes == "coloured" else 3
    extra_outputs = generator.head.linear.out_features - 2 * plain.head.linear.out_features
    assert extra_outputs == 2 * copies * size
    z = generator.sample_latents(2)
    commands = generator.commands(z)
    (gate,) = commands.extra.values()
    assert gate.shape == (2, 3, 4, size)
    assert ((gate > 0) & (gate < 1)).all()
    if command.initial_bias:
        assert gate.mean() > 0.9
    trace = generator.paint_trace(z)
    torch.testing.assert_close(trace.images, generator(z))


@pytest.mark.parametrize(("name", "options"), [("gated-delta", {}), ("gated-hebb", {})])
def test_a_gated_painter_decays_its_learned_canvas(name, options):
    torch.manual_seed(0)
    generator = fpa.build_generator(
        rule=name, rule_options=options, image_size=6, paint_steps=4, learned_canvas=True
    ).double()
    with torch.no_grad():
        generator.canvas.copy_(torch.randn_like(generator.canvas))
    z = torch.randn(3, generator.latent_dim, dtype=torch.float64)
    commands = generator.commands(z)
    start = generator.canvas.expand(3, -1, -1, -1)
    expected = generator.rule.paint_by_steps(
        commands.keys, commands.values, commands.rates, initial=start, **commands.extra
    )
    trace = generator.paint_trace(z)
    torch.testing.assert_close(trace.matrices[:, -1], expected)
    (generator(z).sum()).backward()
    assert generator.canvas.grad.abs().sum() > 0
    assert generator.head.linear.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["gated-delta", "gated-hebb"])
def test_a_gated_rule_trains_and_its_run_loads_and_paints(tmp_path, name):
    result = fpa.train(tiny(rule=name, train_steps=2), out=tmp_path / "run", progress=False)
    assert result.step == 2
    generator = fpa.load(tmp_path / "run")
    assert generator.rule_impl_used == "parallel"
    trace = generator.paint_trace(generator.sample_latents(2))
    assert set(trace.commands.extra) == {"gate"}
    assert torch.isfinite(trace.images).all()


@pytest.mark.parametrize("name", ["initial", "return_all", "lr", "not a name"])
def test_a_command_may_not_take_a_name_paint_or_step_uses(name):
    with pytest.raises(fpa.ConfigError, match="must be a Python identifier other than"):
        fpa.Command(name)


@pytest.mark.parametrize("chunk", [1, 3, 16])
@given(seed=st.integers(0, 2**31 - 1), steps=st.integers(1, 40), tiny=st.booleans())
def test_chunked_per_column_overlap_equals_the_explicit_decays(chunk, seed, steps, tiny):
    """Pairs across chunks go through a reference decay; they must equal ``exp(E_t − S_s)``
    taken pair by pair, for strong decays too (gates of 10⁻³⁰ underflow, never overflow)."""
    generator = torch.Generator().manual_seed(seed)
    reads, writes = torch.randn(2, 2, steps, 5, generator=generator, dtype=torch.float64)
    gate = torch.rand(2, steps, 5, generator=generator, dtype=torch.float64)
    if tiny:
        gate = gate * 1e-30
    starts = log_decays(gate)
    ends = torch.cat([torch.zeros_like(starts[..., :1, :]), starts[..., :-1, :]], dim=-2)
    for later in (starts, ends):
        got = chunked_overlap(reads, writes, later, starts, chunk=chunk)
        pairs = decay_from(later, starts, strict=True) * reads[..., :, None, :]
        expected = (pairs * writes[..., None, :, :]).sum(-1)
        assert torch.isfinite(got).all()
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("name", "options"), [("gated-delta", {"per_column_gate": True}), ("dplr", {})]
)
@pytest.mark.parametrize("steps", [15, 16, 17, 40])
def test_per_column_rules_paint_as_their_steps_over_several_chunks(name, options, steps):
    """The property tests draw at most 8 steps, one chunk: here several, in values and
    gradients."""
    rule = fpa.build_rule(name, **options)
    generator = torch.Generator().manual_seed(steps)
    keys, values, rates, initial = random_problem(
        steps, per_row=True, with_initial=True, steps=steps
    )
    commands = {
        command.name: torch.rand(keys.shape, generator=generator, dtype=torch.float64)
        for command in rule.commands
    }
    inputs = [t.clone().requires_grad_(True) for t in (keys, values, rates, initial)]
    weights = torch.randn(*keys.shape[:-2], values.shape[-1], keys.shape[-1], dtype=torch.float64)
    results = []
    for paint in (rule.paint, rule.paint_by_steps):
        out = paint(*inputs[:3], initial=inputs[3], **commands)
        results.append((out, torch.autograd.grad((out * weights).sum(), inputs)))
    (fast, fast_grads), (slow, slow_grads) = results
    torch.testing.assert_close(fast, slow, rtol=0, atol=1e-10)
    for one, other in zip(fast_grads, slow_grads, strict=True):
        torch.testing.assert_close(one, other, rtol=0, atol=1e-9)
