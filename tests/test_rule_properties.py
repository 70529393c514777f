"""Invariants every registered learning rule must hold (docs/design.md §3), checked with hypothesis.

The rules under test are fpa's own (``gated-delta`` and ``gated-hebb`` also with a gate per
column) plus two third-party rules that implement only ``step`` and reach fpa through the plugin
manager, one with a command fpa does not know; a rule some other installed plugin provides is
its author's to test. A rule's declared commands (docs/design.md §3) are drawn through the
contract: random pre-activations through each command's activation.
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
from fpa.painters.head import activation
from rule_fixtures import ThirdPartyRules

RULES = [
    *((name, {}) for name in own_names("rules")),
    ("gated-delta", {"per_column_gate": True}),
    ("gated-hebb", {"per_column_gate": True}),
    ("step-only-delta", {}),
    ("row-decay-hebb", {}),
]


@pytest.fixture(params=RULES, ids=lambda rule: rule[0] + "".join(f"-{key}" for key in rule[1]))
def rule(request):
    """Each rule, built by name through the registry (the test rules plugged in for the test)."""
    name, options = request.param
    with plugged_in(ThirdPartyRules(), name="test-rules"):
        yield fpa.build_rule(name, **options)


@dataclass
class Problem:
    keys: torch.Tensor
    values: torch.Tensor
    lr: torch.Tensor
    initial: torch.Tensor | None
    # Pre-activations of the rule's commands, (B, C, T, 3 (H + W) + 1): each command takes its
    # size from here in turn (commands_of).
    raw: torch.Tensor

    def tensors(self) -> list[torch.Tensor]:
        return [t for t in vars(self).values() if t is not None]

    def leaves(self) -> tuple[list[torch.Tensor], Problem]:
        """Fresh leaf copies of the tensors and the problem built from them."""
        copies = {
            name: None if t is None else t.clone().requires_grad_(True)
            for name, t in vars(self).items()
        }
        return [t for t in copies.values() if t is not None], Problem(**copies)


def commands_of(rule, problem: Problem, *, neutral: bool = False) -> dict[str, torch.Tensor]:
    """The rule's declared commands ``(B, C, T, size)``: the problem's pre-activations through
    each command's activation, as the head emits them, or every command at its neutral value."""
    height, width = problem.values.shape[-1], problem.keys.shape[-1]
    commands, start = {}, 0
    for command in rule.commands:
        size = command.width(height=height, width=width)
        part = problem.raw[..., start : start + size]
        assert part.shape[-1] == size, "the problem draws too few pre-activations for the rule"
        start += size
        value = activation(command.activation, command.name)(part)
        commands[command.name] = torch.full_like(value, command.neutral) if neutral else value
    return commands


def step_commands(commands: dict[str, torch.Tensor], t: int) -> dict[str, torch.Tensor]:
    return {name: command[..., t, :] for name, command in commands.items()}


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
    raw = 2 * normal(*lead, 3 * (height + width) + 1)
    problem = Problem(keys, values, lr, initial, raw)
    return Problem(*(t.to(dtype) if t is not None else None for t in vars(problem).values()))


def paint(rule, problem: Problem, *, neutral: bool = False, **kwargs):
    commands = commands_of(rule, problem, neutral=neutral)
    return rule.paint(
        problem.keys, problem.values, problem.lr, initial=problem.initial, **kwargs, **commands
    )


def fold_steps(rule, problem: Problem) -> torch.Tensor:
    """The reference written here, independent of LearningRule.paint_by_steps: ``step``, or
    ``step_carrying`` with what the rule carries besides the matrix (a momentum)."""
    rates = rule.effective_rates(problem.lr)
    commands = commands_of(rule, problem)
    shape = (*problem.keys.shape[:-2], problem.values.shape[-1], problem.keys.shape[-1])
    matrix = problem.initial if problem.initial is not None else problem.keys.new_zeros(shape)
    carry = rule.start_carry(matrix)
    for t in range(problem.keys.shape[-2]):
        key, value, rate = problem.keys[..., t, :], problem.values[..., t, :], rates[..., t, :]
        now = step_commands(commands, t)
        if carry:
            matrix, carry = rule.step_carrying(matrix, carry, key, value, rate, **now)
        else:
            matrix = rule.step(matrix, key, value, rate, **now)
    return matrix


def scale_of(tensor: torch.Tensor) -> float:
    return max(1.0, tensor.abs().max().item())


def gradients_of(out, weights, inputs) -> tuple[torch.Tensor, ...]:
    """Gradients of ``(out * weights).sum()``; zeros for inputs it does not read (the
    pre-activations of commands a rule does not declare)."""
    return torch.autograd.grad(
        (out * weights).sum(), inputs, allow_unused=True, materialize_grads=True
    )


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
        inputs, leaf = problem.leaves()
        out = fold_steps(rule, leaf) if reference else paint(rule, leaf)
        gradients.append(gradients_of(out, weights, inputs))
    assert_same_gradients(*gradients)


CHUNKED_RULES = [
    *(
        (name, options)
        for name, options in RULES
        if name in own_names("rules") and fpa.build_rule(name, **options).chunk_steps
    ),
    ("delta", {"first_step_unit_rate": True}),
]


@pytest.fixture(params=CHUNKED_RULES, ids=lambda r: r[0] + "".join(f"-{key}" for key in r[1]))
def chunked_rule(request):
    """Each rule with a chunkwise form (:attr:`ParallelPaint.chunk_steps`)."""
    name, options = request.param
    return fpa.build_rule(name, **options)


@given(problem=problems(), chunk=st.integers(1, 3))
def test_painting_in_chunks_equals_folding_step(chunked_rule, problem, chunk):
    """Chunks shorter than T: each starts from the matrix the last one painted, and the rates
    (the delta rule's unit first rate) are made effective once, for the whole painting."""
    chunked_rule.chunk_steps = chunk
    weights = torch.randn(paint(chunked_rule, problem).shape, dtype=torch.float64)
    outputs, gradients = [], []
    for reference in (False, True):
        inputs, leaf = problem.leaves()
        out = fold_steps(chunked_rule, leaf) if reference else paint(chunked_rule, leaf)
        outputs.append(out)
        gradients.append(gradients_of(out, weights, inputs))
    torch.testing.assert_close(*outputs, rtol=0, atol=1e-10 * scale_of(outputs[1]))
    assert_same_gradients(*gradients)


@given(problem=problems())
def test_one_rate_per_step_equals_that_rate_repeated_on_every_row(rule, problem):
    per_step = problem.lr[..., :1]
    per_row = repeat(per_step, "... step 1 -> ... step row", row=problem.values.shape[-1])
    # A nonzero matrix, so that the step's correction term (delta, Oja) takes part.
    matrix = problem.initial if problem.initial is not None else paint(rule, problem)
    commands = commands_of(rule, problem)
    for t in range(problem.keys.shape[-2]):
        key, value, now = (
            problem.keys[..., t, :],
            problem.values[..., t, :],
            step_commands(commands, t),
        )
        carry = rule.start_carry(matrix)
        one = rule.step_carrying(matrix, carry, key, value, per_step[..., t, :], **now)
        other = rule.step_carrying(matrix, carry, key, value, per_row[..., t, :], **now)
        assert all(torch.equal(*pair) for pair in zip(one[1], other[1], strict=True))
        assert torch.equal(one[0], other[0])
    painted = [
        paint(rule, Problem(problem.keys, problem.values, lr, problem.initial, problem.raw))
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


def assert_rank_law(rule, problem: Problem) -> None:
    """The rank law of a transition that multiplies ``M`` from the right: ``rank M_t ≤
    rank M_{t-1} + 1`` (so from ``M_0 = 0``, ``rank M_t ≤ t``); with its commands at their
    neutral values (gates at 1) every increment ``M_t - M_{t-1}`` has rank ≤ 1."""
    neutral = paint(rule, problem, neutral=True, return_all=True)
    tolerance = 1e-9 * scale_of(neutral)
    assert torch.linalg.matrix_rank(step_increments(neutral, problem), atol=tolerance).max() <= 1
    ranks = ranks_from_the_start(rule, problem)
    assert (ranks[..., 1:] <= ranks[..., :-1] + 1).all()
    if problem.initial is None:
        assert (ranks[..., 1:] <= torch.arange(1, ranks.shape[-1])).all()


def ranks_from_the_start(rule, problem: Problem) -> torch.Tensor:
    """``rank M_t`` for t = 0 … T, ``(..., T + 1)``."""
    partial = paint(rule, problem, return_all=True)
    start = (
        problem.initial if problem.initial is not None else torch.zeros_like(partial[..., 0, :, :])
    )
    matrices = torch.cat([start.unsqueeze(-3), partial], dim=-3)
    return torch.linalg.matrix_rank(matrices, atol=1e-9 * scale_of(matrices))


def assert_hadamard_rank_law(rule, problem: Problem) -> None:
    """Longhorn's law: its decay ``1 − ε (k ⊙ k)ᵀ`` has rank ≤ 2, so ``rank M_t ≤ 2 rank
    M_{t-1} + 1`` (from ``M_0 = 0``, ``rank M_t ≤ 2ᵗ − 1``); with one rate per step the decay
    scales columns only and ``rank M_t ≤ rank M_{t-1} + 1``."""
    ranks = ranks_from_the_start(rule, problem)
    per_step = problem.lr.shape[-1] == 1
    growth = 1 if per_step else 2
    assert (ranks[..., 1:] <= growth * ranks[..., :-1] + 1).all()
    if problem.initial is None:
        steps = torch.arange(1, ranks.shape[-1])
        assert (ranks[..., 1:] <= (steps if per_step else 2**steps - 1)).all()


def assert_momentum_rank_law(rule, problem: Problem) -> None:
    """Momentum delta's law: ``rank(M_t − (Π_{s≤t} α_s) M_0) ≤ t``, the rows of that
    difference in the span of the keys ``k_1 … k_t``; with α = 1 and μ = 0 (neutral) it is
    delta, each increment of rank ≤ 1."""
    neutral = paint(rule, problem, neutral=True, return_all=True)
    tolerance = 1e-9 * scale_of(neutral)
    assert torch.linalg.matrix_rank(step_increments(neutral, problem), atol=tolerance).max() <= 1
    partial = paint(rule, problem, return_all=True)
    written = partial
    if problem.initial is not None:
        kept = commands_of(rule, problem)["gate"].cumprod(dim=-2).unsqueeze(-1)
        written = partial - kept * problem.initial.unsqueeze(-3)
    tolerance = 1e-9 * scale_of(partial)
    steps = torch.arange(1, partial.shape[-3] + 1)
    assert (torch.linalg.matrix_rank(written, atol=tolerance) <= steps).all()
    for t in range(partial.shape[-3]):
        keys = problem.keys[..., : t + 1, :]
        outside = torch.eye(keys.shape[-1], dtype=keys.dtype) - torch.linalg.pinv(keys) @ keys
        torch.testing.assert_close(
            written[..., t, :, :] @ outside,
            torch.zeros_like(written[..., t, :, :]),
            rtol=0,
            atol=tolerance,
        )


# Rules whose transition does not multiply M from the right keep a law of their own.
RANK_LAWS = {"longhorn": assert_hadamard_rank_law, "momentum-delta": assert_momentum_rank_law}


@given(problem=problems())
def test_every_rule_keeps_its_rank_law(rule, request, problem):
    name = request.node.callspec.params["rule"][0]
    RANK_LAWS.get(name, assert_rank_law)(rule, problem)


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
        raw=base.raw[:, :1].expand(-1, channels, -1, -1),
    )


def sources_of(problem: Problem) -> tuple[list[torch.Tensor], Problem]:
    """Leaf tensors behind a coloured problem and the problem rebuilt from them, with the same
    broadcast views, so gradients reach the shared key, rate and commands once."""
    channels = problem.keys.shape[1]
    leaves = [
        problem.keys[:, :1].clone().requires_grad_(True),
        problem.values.clone().requires_grad_(True),
        problem.lr[:, :1].clone().requires_grad_(True),
        problem.raw[:, :1].clone().requires_grad_(True),
    ]
    if problem.initial is not None:
        leaves.append(problem.initial.clone().requires_grad_(True))
    rebuilt = Problem(
        keys=leaves[0].expand(-1, channels, -1, -1),
        values=leaves[1],
        lr=leaves[2].expand(-1, channels, -1, -1),
        initial=leaves[4] if problem.initial is not None else None,
        raw=leaves[3].expand(-1, channels, -1, -1),
    )
    return leaves, rebuilt


@given(problem=coloured_problems())
def test_coloured_strokes_paint_as_their_steps_do_and_keep_the_rank_law(rule, request, problem):
    painted, folded = paint(rule, problem), fold_steps(rule, problem)
    torch.testing.assert_close(painted, folded, rtol=0, atol=1e-10 * scale_of(folded))
    RANK_LAWS.get(request.node.callspec.params["rule"][0], assert_rank_law)(rule, problem)


@given(problem=coloured_problems())
def test_coloured_strokes_have_the_gradients_of_their_steps(rule, problem):
    weights = torch.randn(paint(rule, problem).shape, dtype=torch.float64)
    gradients = []
    for reference in (False, True):
        leaves, rebuilt = sources_of(problem)
        out = fold_steps(rule, rebuilt) if reference else paint(rule, rebuilt)
        gradients.append(gradients_of(out, weights, leaves))
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
                rebuilt.keys.contiguous(),
                rebuilt.values,
                rebuilt.lr.contiguous(),
                rebuilt.initial,
                rebuilt.raw.contiguous(),
            )
        out = paint(rule, rebuilt)
        results.append((out, gradients_of(out, weights, leaves)))
    (shared, shared_grads), (copies, copies_grads) = results
    torch.testing.assert_close(shared, copies, rtol=0, atol=1e-10 * scale_of(copies))
    assert_same_gradients(shared_grads, copies_grads)
