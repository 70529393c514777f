"""Rule-specific behaviour: what each rule is for, its options, and its input checks."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import fpa
from conftest import own_names, requires_cuda


def orthonormal_keys(steps: int, width: int, seed: int) -> torch.Tensor:
    """``steps`` orthonormal rows of length ``width`` (steps ≤ width)."""
    generator = torch.Generator().manual_seed(seed)
    basis, _ = torch.linalg.qr(torch.randn(width, steps, generator=generator, dtype=torch.float64))
    return basis.T


@given(seed=st.integers(0, 10_000), steps=st.integers(1, 6), per_row=st.booleans())
def test_hebb_ignores_the_order_of_steps(seed, steps, per_row):
    generator = torch.Generator().manual_seed(seed)
    keys = torch.randn(2, steps, 5, generator=generator, dtype=torch.float64)
    values = torch.randn(2, steps, 4, generator=generator, dtype=torch.float64)
    lr = torch.rand(2, steps, 4 if per_row else 1, generator=generator, dtype=torch.float64)
    order = torch.randperm(steps, generator=generator)
    hebb = fpa.build_rule("hebb")
    torch.testing.assert_close(
        hebb.paint(keys, values, lr), hebb.paint(keys[:, order], values[:, order], lr[:, order])
    )


@given(seed=st.integers(0, 10_000), steps=st.integers(1, 7), extra_width=st.integers(0, 3))
def test_delta_with_unit_rate_retrieves_every_value_of_orthonormal_keys(seed, steps, extra_width):
    keys = orthonormal_keys(steps, steps + extra_width, seed)
    values = torch.randn(
        steps, 5, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64
    )
    painted = fpa.build_rule("delta").paint(keys, values, torch.ones(steps, 1, dtype=torch.float64))
    torch.testing.assert_close(painted @ keys.T, values.T)


@given(seed=st.integers(0, 10_000), first=st.integers(0, 3), gap=st.integers(1, 3))
def test_delta_repeated_key_with_unit_rate_overwrites(seed, first, gap):
    distinct = orthonormal_keys(first + gap + 1, first + gap + 2, seed)
    keys = torch.cat([distinct, distinct[first : first + 1]])  # key `first` comes back last
    steps = keys.shape[0]
    values = torch.randn(
        steps, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )
    painted = fpa.build_rule("delta").paint(keys, values, torch.ones(steps, 1, dtype=torch.float64))
    torch.testing.assert_close(painted @ keys[first], values[-1])
    others = [i for i in range(steps - 1) if i != first]
    torch.testing.assert_close(painted @ keys[others].T, values[others].T)


def test_hebb_with_repeated_key_accumulates_instead_of_overwriting():
    key = torch.tensor([[1.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    values = torch.tensor([[1.0], [2.0]], dtype=torch.float64)
    painted = fpa.build_rule("hebb").paint(key, values, torch.ones(2, 1, dtype=torch.float64))
    assert painted[0, 0].item() == pytest.approx(3.0)


def test_delta_first_step_unit_rate_writes_v1_k1_without_the_rate():
    generator = torch.Generator().manual_seed(0)
    keys = torch.randn(2, 3, 6, 5, generator=generator, dtype=torch.float64).softmax(-1)
    values = torch.randn(2, 3, 6, 4, generator=generator, dtype=torch.float64)
    lr = torch.rand(2, 3, 6, 1, generator=generator, dtype=torch.float64)
    authors = fpa.build_rule("delta", first_step_unit_rate=True)
    partial = authors.paint(keys, values, lr, return_all=True)
    first = values[..., 0, :, None] * keys[..., 0, None, :]
    torch.testing.assert_close(partial[..., 0, :, :], first)
    unit_first = lr.clone()
    unit_first[..., 0, :] = 1.0
    torch.testing.assert_close(
        partial[..., -1, :, :], fpa.build_rule("delta").paint(keys, values, unit_first)
    )
    torch.testing.assert_close(partial[..., -1, :, :], authors.paint_by_steps(keys, values, lr))
    assert authors.options() == {"first_step_unit_rate": True}


def test_oja_is_the_delta_rule_on_the_transposed_matrix():
    generator = torch.Generator().manual_seed(1)
    keys = torch.randn(3, 7, 5, generator=generator, dtype=torch.float64) / 3
    values = torch.randn(3, 7, 4, generator=generator, dtype=torch.float64) / 3
    lr = torch.rand(3, 7, 1, generator=generator, dtype=torch.float64)
    initial = torch.randn(3, 4, 5, generator=generator, dtype=torch.float64)
    oja = fpa.build_rule("oja").paint(keys, values, lr, initial=initial)
    delta = fpa.build_rule("delta").paint(values, keys, lr, initial=initial.mT)
    torch.testing.assert_close(oja, delta.mT)


def test_per_row_rates_equal_painting_each_row_with_its_own_scalar_rate():
    generator = torch.Generator().manual_seed(2)
    keys = torch.randn(6, 5, generator=generator, dtype=torch.float64) / 2
    values = torch.randn(6, 3, generator=generator, dtype=torch.float64)
    lr = torch.rand(6, 3, generator=generator, dtype=torch.float64)
    delta = fpa.build_rule("delta")
    painted = delta.paint(keys, values, lr)
    for row in range(3):
        alone = delta.paint(keys, values[:, row : row + 1], lr[:, row : row + 1])
        torch.testing.assert_close(painted[row : row + 1], alone)


@pytest.mark.parametrize("name", ["hebb", "delta", "oja"])
def test_built_in_rules_have_a_parallel_form(name):
    rule = fpa.build_rule(name)
    assert rule.has_parallel_form
    # The contract of the override: ``paint`` paints what the step loop paints (one rate per
    # step or per row, from a given matrix, every partial matrix too) without calling ``step``.
    generator = torch.Generator().manual_seed(4)
    keys = torch.randn(2, 6, 5, generator=generator, dtype=torch.float64).softmax(-1)
    values = torch.randn(2, 6, 4, generator=generator, dtype=torch.float64)
    initial = torch.randn(2, 4, 5, generator=generator, dtype=torch.float64)
    rates = [
        torch.rand(shape, generator=generator, dtype=torch.float64)
        for shape in [(2, 6, 1), (2, 6, 4)]
    ]
    cases = [
        (lr, start, every) for lr in rates for start in (None, initial) for every in (False, True)
    ]
    looped = [
        rule.paint_by_steps(keys, values, lr, initial=start, return_all=every)
        for lr, start, every in cases
    ]

    def no_step(*args):
        raise AssertionError("the parallel form called step()")

    rule.step = no_step
    for (lr, start, every), expected in zip(cases, looped, strict=True):
        painted = rule.paint(keys, values, lr, initial=start, return_all=every)
        torch.testing.assert_close(painted, expected)


@pytest.mark.parametrize(
    ("keys_shape", "values_shape", "lr_shape", "initial_shape", "message"),
    [
        ((2, 5, 4), (2, 6, 3), (2, 5, 1), None, "must agree"),
        ((2, 5, 4), (2, 5, 3), (2, 4, 1), None, "lr must have shape"),
        ((2, 5, 4), (2, 5, 3), (2, 5, 4), None, "lr must have shape"),
        ((2, 5, 4), (2, 5, 3), (2, 5, 1), (2, 4, 3), "initial matrix"),
        ((5,), (5,), (5,), None, "need shape"),
    ],
)
@pytest.mark.usefixtures("third_party_rules")
def test_bad_shapes_give_a_readable_error(
    keys_shape, values_shape, lr_shape, initial_shape, message
):
    initial = torch.zeros(initial_shape) if initial_shape else None
    for name in own_names("rules"):
        rule = fpa.build_rule(name)
        for paint in (rule.paint, rule.paint_by_steps):
            with pytest.raises(fpa.ConfigError, match=message):
                paint(
                    torch.zeros(keys_shape),
                    torch.zeros(values_shape),
                    torch.zeros(lr_shape),
                    initial=initial,
                )


@pytest.mark.parametrize("lr_shape", [(2, 5), (2, 5, 2), (2, 5, 3, 1), (2, 5, 1, 1)])
@pytest.mark.usefixtures("third_party_rules")
def test_a_rate_without_a_trailing_axis_of_1_or_h_names_the_expected_layout(lr_shape):
    keys, values = torch.zeros(2, 5, 4), torch.zeros(2, 5, 3)
    expected = r"\(\.\.\., T, 1\) = \(2, 5, 1\).*\(\.\.\., T, H\) = \(2, 5, 3\)"
    for name in own_names("rules"):
        rule = fpa.build_rule(name)
        for paint in (rule.paint, rule.paint_by_steps):
            with pytest.raises(fpa.ConfigError, match=expected) as error:
                paint(keys, values, torch.zeros(lr_shape))
            # A bare (..., T) rate, the old layout, is told how to add its axis.
            assert ("lr[..., None]" in str(error.value)) == (lr_shape == (2, 5))


def test_unknown_rule_option_names_the_accepted_ones():
    with pytest.raises(fpa.ConfigError, match="first_step_unit_rate"):
        fpa.build_rule("delta", first_step=True)


@requires_cuda
@pytest.mark.cuda
@pytest.mark.parametrize("name", ["hebb", "delta", "oja", "gated-delta", "gated-hebb"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cuda_painting_matches_the_cpu(name, dtype):
    generator = torch.Generator().manual_seed(3)
    keys = torch.randn(4, 3, 16, 12, generator=generator).softmax(-1)
    values = torch.randn(4, 3, 16, 10, generator=generator) / 10**0.5
    lr = torch.rand(4, 3, 16, 1, generator=generator)
    inputs = [t.to(dtype) for t in (keys, values, lr)]
    rule = fpa.build_rule(name)
    # Each declared command (a gate) in (0.5, 1), rounded like the other inputs.
    commands = {
        command.name: (0.5 + 0.5 * torch.rand(4, 3, 16, 1, generator=generator)).to(dtype)
        for command in rule.commands
    }

    def on(device, dtype=None):
        tensors = [t.to(device, dtype) for t in inputs]
        return tensors, {name: t.to(device, dtype) for name, t in commands.items()}

    # The reference paints the same (rounded) inputs in float64 on the CPU.
    tensors, extra = on("cpu", torch.float64)
    cpu = rule.paint(*tensors, **extra)
    tensors, extra = on("cuda")
    cuda = rule.paint(*tensors, **extra)
    assert cuda.device.type == "cuda" and cuda.dtype == dtype
    tolerance = 1e-4 if dtype == torch.float32 else 1e-2
    torch.testing.assert_close(cuda.double().cpu(), cpu, rtol=tolerance, atol=tolerance)
    tensors, extra = on("cuda", torch.float32)
    steps = rule.paint_by_steps(*tensors, **extra)
    torch.testing.assert_close(steps.double().cpu(), cpu, rtol=1e-4, atol=1e-4)
