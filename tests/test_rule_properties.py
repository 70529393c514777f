"""Invariants every registered learning rule must hold (docs/design.md §3), checked with hypothesis.

The rules under test are fpa's own plus a third-party rule that implements only ``step`` and
reaches fpa through the plugin manager; a rule some other installed plugin provides is its
author's to test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch
from einops import repeat
from hypothesis import given
from hypothesis import strategies as st

import fpa
from conftest import own_names, plugged_in
from rule_fixtures import ThirdPartyRules

RULE_NAMES = [*own_names("rules"), "step-only-delta"]


@pytest.fixture(params=RULE_NAMES)
def rule(request):
    """Each rule, built by name through the registry (the test rule plugged in for the test)."""
    with plugged_in(ThirdPartyRules(), name="test-rules"):
        yield fpa.build_rule(request.param)


@dataclass
class Problem:
    keys: torch.Tensor
    values: torch.Tensor
    lr: torch.Tensor
    initial: torch.Tensor | None

    def tensors(self) -> list[torch.Tensor]:
        return [t for t in (self.keys, self.values, self.lr, self.initial) if t is not None]


@st.composite
def problems(draw, *, dtype=torch.float64, allow_initial=True):
    """Random batched painting problems with bounded inputs: (B, C, T, ·) tensors, rates
    ``(B, C, T, 1)`` or ``(B, C, T, H)``."""
    batch, channels = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    steps, height, width = draw(st.integers(1, 8)), draw(st.integers(1, 6)), draw(st.integers(1, 6))
    per_row = draw(st.booleans())
    with_initial = allow_initial and draw(st.booleans())
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))

    def normal(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    lead = (batch, channels, steps)
    keys = normal(*lead, width) / math.sqrt(width)
    values = normal(*lead, height)
    lr = torch.rand(*lead, height if per_row else 1, generator=generator, dtype=torch.float64)
    initial = 0.5 * normal(batch, channels, height, width) if with_initial else None
    problem = Problem(keys, values, lr, initial)
    return Problem(*(t.to(dtype) if t is not None else None for t in vars(problem).values()))


def paint(rule, problem: Problem, **kwargs):
    return rule.paint(problem.keys, problem.values, problem.lr, initial=problem.initial, **kwargs)


def fold_steps(rule, problem: Problem) -> torch.Tensor:
    """The reference written here, independent of LearningRule.paint_by_steps."""
    rates = rule.effective_rates(problem.lr)
    shape = (*problem.keys.shape[:-2], problem.values.shape[-1], problem.keys.shape[-1])
    matrix = problem.initial if problem.initial is not None else problem.keys.new_zeros(shape)
    for t in range(problem.keys.shape[-2]):
        rate = rates[..., t, :]
        matrix = rule.step(matrix, problem.keys[..., t, :], problem.values[..., t, :], rate)
    return matrix


def scale_of(tensor: torch.Tensor) -> float:
    return max(1.0, tensor.abs().max().item())


def assert_same_gradients(fast, slow) -> None:
    """Two gradient tuples agree to float64 precision, relative to the reference's scale."""
    for one, reference in zip(fast, slow, strict=True):
        torch.testing.assert_close(one, reference, rtol=0, atol=1e-9 * scale_of(reference))


@given(problem=problems())
def test_paint_equals_folding_step(rule, problem):
    painted, folded = paint(rule, problem), fold_steps(rule, problem)
    tolerance = 1e-10 * scale_of(folded)
    torch.testing.assert_close(painted, folded, rtol=0, atol=tolerance)


@given(problem=problems())
def test_gradients_of_paint_equal_gradients_of_step_fold(rule, problem):
    weights = torch.randn(paint(rule, problem).shape, dtype=torch.float64)
    gradients = []
    for reference in (False, True):
        inputs = [t.clone().requires_grad_(True) for t in problem.tensors()]
        leaf = Problem(*inputs, None) if problem.initial is None else Problem(*inputs)
        out = fold_steps(rule, leaf) if reference else paint(rule, leaf)
        gradients.append(torch.autograd.grad((out * weights).sum(), inputs))
    assert_same_gradients(*gradients)


@given(problem=problems())
def test_one_rate_per_step_equals_that_rate_repeated_on_every_row(rule, problem):
    per_step = problem.lr[..., :1]
    per_row = repeat(per_step, "... step 1 -> ... step row", row=problem.values.shape[-1])
    # A nonzero matrix, so that the step's correction term (delta, Oja) takes part.
    matrix = problem.initial if problem.initial is not None else paint(rule, problem)
    for t in range(problem.keys.shape[-2]):
        key, value = problem.keys[..., t, :], problem.values[..., t, :]
        one = rule.step(matrix, key, value, per_step[..., t, :])
        assert torch.equal(one, rule.step(matrix, key, value, per_row[..., t, :]))
    painted = [
        paint(rule, Problem(problem.keys, problem.values, lr, problem.initial))
        for lr in (per_step, per_row)
    ]
    torch.testing.assert_close(*painted, rtol=0, atol=1e-10 * scale_of(painted[1]))


def step_increments(partial: torch.Tensor, problem: Problem) -> torch.Tensor:
    """What each step added: ``M_t - M_{t-1}`` from the partial matrices ``(..., T, H, W)``."""
    start = problem.initial
    if start is None:
        start = torch.zeros_like(partial[..., 0, :, :])
    previous = torch.cat([start.unsqueeze(-3), partial[..., :-1, :, :]], dim=-3)
    return partial - previous


@given(problem=problems())
def test_every_step_adds_at_most_rank_one(rule, problem):
    partial = paint(rule, problem, return_all=True)
    tolerance = 1e-9 * scale_of(partial)
    assert torch.linalg.matrix_rank(step_increments(partial, problem), atol=tolerance).max() <= 1
    if problem.initial is None:
        ranks = torch.linalg.matrix_rank(partial, atol=tolerance)
        steps_done = torch.arange(1, partial.shape[-3] + 1)
        assert (ranks <= steps_done).all()


@given(problem=problems())
def test_last_partial_matrix_is_the_painting(rule, problem):
    partial = paint(rule, problem, return_all=True)
    assert partial.shape == (
        *problem.keys.shape[:-1],
        problem.values.shape[-1],
        problem.keys.shape[-1],
    )
    final = paint(rule, problem)
    torch.testing.assert_close(partial[..., -1, :, :], final, rtol=0, atol=1e-10 * scale_of(final))


@given(problem=problems(), data=st.data())
def test_painting_one_sample_never_reads_another(rule, problem, data):
    batch = problem.keys.shape[0]
    other = data.draw(st.integers(0, batch - 1))
    changed = Problem(*(t.clone() if t is not None else None for t in vars(problem).values()))
    changed.keys[other] += 1.0
    changed.values[other] -= 2.0
    changed.lr[other] = 1.0 - changed.lr[other]
    before, after = paint(rule, problem), paint(rule, changed)
    keep = [i for i in range(batch) if i != other]
    assert torch.equal(before[keep], after[keep])
    assert not torch.equal(before[other], after[other])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@given(problem=problems(dtype=torch.float64))
def test_shape_dtype_preserved_and_close_to_float64(rule, dtype, problem):
    low = Problem(*(t.to(dtype) if t is not None else None for t in vars(problem).values()))
    painted = paint(rule, low)
    reference = paint(rule, problem)
    assert painted.dtype == dtype
    assert painted.shape == reference.shape
    assert painted.device == problem.keys.device
    assert torch.isfinite(painted).all()
    tolerance = {torch.float32: 1e-4, torch.float64: 1e-10, torch.bfloat16: 5e-2}[dtype]
    # bf16 inputs are rounded before painting: compare with the rounded inputs in float64.
    rounded = Problem(*(t.to(torch.float64) if t is not None else None for t in vars(low).values()))
    expected = paint(rule, rounded)
    torch.testing.assert_close(
        painted.double(), expected, rtol=tolerance, atol=tolerance * scale_of(expected)
    )


@st.composite
def coloured_problems(draw):
    """Problems painted as coloured strokes: every channel reads one key and one rate (views
    broadcast over the channel axis, as the painter's head emits them) and writes one value
    scaled by its own colour weight."""
    base = draw(problems(allow_initial=True))
    channels = draw(st.integers(2, 3))
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    batch, _, steps, height = base.values.shape
    colour = torch.randn(batch, channels, steps, 1, generator=generator, dtype=torch.float64)
    initial = None
    if base.initial is not None:
        shape = (batch, channels, height, base.keys.shape[-1])
        initial = 0.5 * torch.randn(*shape, generator=generator, dtype=torch.float64)
    return Problem(
        keys=base.keys[:, :1].expand(-1, channels, -1, -1),
        values=base.values[:, :1] * colour,
        lr=base.lr[:, :1].expand(-1, channels, -1, -1),
        initial=initial,
    )


def sources_of(problem: Problem) -> tuple[list[torch.Tensor], Problem]:
    """Leaf tensors behind a coloured problem and the problem rebuilt from them, with the same
    broadcast views, so gradients reach the shared key and rate once."""
    channels = problem.keys.shape[1]
    leaves = [
        problem.keys[:, :1].clone().requires_grad_(True),
        problem.values.clone().requires_grad_(True),
        problem.lr[:, :1].clone().requires_grad_(True),
    ]
    if problem.initial is not None:
        leaves.append(problem.initial.clone().requires_grad_(True))
    rebuilt = Problem(
        keys=leaves[0].expand(-1, channels, -1, -1),
        values=leaves[1],
        lr=leaves[2].expand(-1, channels, -1, -1),
        initial=leaves[3] if problem.initial is not None else None,
    )
    return leaves, rebuilt


@given(problem=coloured_problems())
def test_coloured_strokes_paint_as_their_steps_do_and_add_rank_one(rule, problem):
    painted, folded = paint(rule, problem), fold_steps(rule, problem)
    torch.testing.assert_close(painted, folded, rtol=0, atol=1e-10 * scale_of(folded))
    partial = paint(rule, problem, return_all=True)
    tolerance = 1e-9 * scale_of(partial)
    assert torch.linalg.matrix_rank(step_increments(partial, problem), atol=tolerance).max() <= 1


@given(problem=coloured_problems())
def test_coloured_strokes_have_the_gradients_of_their_steps(rule, problem):
    weights = torch.randn(paint(rule, problem).shape, dtype=torch.float64)
    gradients = []
    for reference in (False, True):
        leaves, rebuilt = sources_of(problem)
        out = fold_steps(rule, rebuilt) if reference else paint(rule, rebuilt)
        gradients.append(torch.autograd.grad((out * weights).sum(), leaves))
    assert_same_gradients(*gradients)


@given(problem=coloured_problems())
def test_broadcast_keys_and_rates_paint_as_their_copies(rule, problem):
    """A rule may solve once for all channels that share a key and a rate (the delta rule
    does); the result and its gradients must equal painting each channel's own copy."""
    weights = torch.randn(paint(rule, problem).shape, dtype=torch.float64)
    results = []
    for copied in (False, True):
        leaves, rebuilt = sources_of(problem)
        if copied:
            rebuilt = Problem(
                rebuilt.keys.contiguous(), rebuilt.values, rebuilt.lr.contiguous(), rebuilt.initial
            )
        out = paint(rule, rebuilt)
        results.append((out, torch.autograd.grad((out * weights).sum(), leaves)))
    (shared, shared_grads), (copies, copies_grads) = results
    torch.testing.assert_close(shared, copies, rtol=0, atol=1e-10 * scale_of(copies))
    assert_same_gradients(shared_grads, copies_grads)
