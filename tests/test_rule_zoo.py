"""The own properties of dplr (RWKV-7's generalised delta), longhorn and momentum-delta: each
one's step is its paper's equation, each reduces to delta where its paper says it should, and
the rank laws of Longhorn and momentum delta are as loose as their docstrings say
(docs/rules.md)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import fpa
from fpa.decomposition import decompose
from tiny_runs import tiny


def draw(seed: int, *, steps: int = 6, height: int = 5, width: int = 4, per_row: bool = False):
    """Keys, values, rates ``(2, 2, T, ·)`` and an initial matrix, in float64."""
    generator = torch.Generator().manual_seed(seed)

    def normal(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    lead = (2, 2, steps)
    keys = normal(*lead, width) / width**0.5
    values = normal(*lead, height)
    rates = torch.rand(*lead, height if per_row else 1, generator=generator, dtype=torch.float64)
    return keys, values, rates, normal(2, 2, height, width)


def test_dplr_step_is_rwkv7s_transition():
    """``M (diag(w) − κ (a ⊙ κ)ᵀ) + r v kᵀ``: RWKV-7's ``S_t`` with values on the rows."""
    generator = torch.Generator().manual_seed(0)
    matrix = torch.randn(5, 4, generator=generator, dtype=torch.float64)
    key, value = torch.randn(4, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    decay, rate = torch.rand(4, dtype=torch.float64), torch.rand(4, dtype=torch.float64)
    removal = torch.nn.functional.normalize(torch.randn(4, dtype=torch.float64), dim=0)
    lr = torch.tensor([0.3], dtype=torch.float64)
    transition = torch.diag(decay) - torch.outer(removal, rate * removal)
    expected = matrix @ transition + lr * torch.outer(value, key)
    got = fpa.build_rule("dplr").step(
        matrix, key, value, lr, decay=decay, removal_key=removal, in_context_rate=rate
    )
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-14)


@given(seed=st.integers(0, 2**31 - 1), with_initial=st.booleans())
def test_dplr_removing_along_the_key_at_the_rate_is_delta(seed, with_initial):
    """With no decay, the removal key the (unit) key and the in-context rate the step's rate
    on every column, RWKV-7's transition ``I − r k kᵀ`` is the delta rule's."""
    keys, values, rates, initial = draw(seed)
    keys = torch.nn.functional.normalize(keys, dim=-1)
    initial = initial if with_initial else None
    commands = {
        "decay": torch.ones_like(keys),
        "removal_key": keys,
        "in_context_rate": rates.expand_as(keys),
    }
    rule, delta = fpa.build_rule("dplr"), fpa.build_rule("delta")
    expected = delta.paint_by_steps(keys, values, rates, initial=initial, return_all=True)
    for paint in (rule.paint, rule.paint_by_steps):
        got = paint(keys, values, rates, initial=initial, return_all=True, **commands)
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


def longhorn_by_the_paper(keys, values, rates, initial):
    """Longhorn's recurrence entry by entry, as the paper writes it for ``S (d × m)``:
    ``ε = β / (1 + β kᵀk)`` (one per row), ``S_ij ← S_ij (1 − ε_i k_j²) + ε_i x_i k_j``."""
    state = initial.clone()
    height, width = state.shape
    for key, value, beta in zip(keys, values, rates, strict=True):
        beta = beta.expand(height)
        epsilon = [
            beta[i] / (1 + beta[i] * sum(key[j] ** 2 for j in range(width))) for i in range(height)
        ]
        for i in range(height):
            for j in range(width):
                forget = 1 - epsilon[i] * key[j] ** 2
                state[i, j] = state[i, j] * forget + epsilon[i] * value[i] * key[j]
    return state


@pytest.mark.parametrize("per_row", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_longhorn_is_the_papers_recurrence(seed, per_row):
    keys, values, rates, initial = draw(seed, per_row=per_row)
    rates = 3 * rates  # β is not bounded by 1 in the paper
    painted = fpa.build_rule("longhorn").paint(keys, values, rates, initial=initial)
    for batch in range(2):
        for channel in range(2):
            expected = longhorn_by_the_paper(
                keys[batch, channel],
                values[batch, channel],
                rates[batch, channel],
                initial[batch, channel],
            )
            torch.testing.assert_close(painted[batch, channel], expected, rtol=0, atol=1e-12)


@given(seed=st.integers(0, 2**31 - 1), per_row=st.booleans())
def test_longhorn_with_one_hot_keys_is_delta_at_the_rate_epsilon(seed, per_row):
    """A key ``c e_j`` makes the Hadamard decay ``1 − ε c² e_jᵀ`` the delta rule's
    ``I − ε k kᵀ``: Longhorn is delta with rate ``ε = β / (1 + β c²)``."""
    keys, values, rates, initial = draw(seed, per_row=per_row)
    generator = torch.Generator().manual_seed(seed)
    columns = torch.randint(keys.shape[-1], keys.shape[:-1], generator=generator)
    scale = 0.5 + torch.rand(keys.shape[:-1], generator=generator, dtype=torch.float64)
    keys = torch.nn.functional.one_hot(columns, keys.shape[-1]).double() * scale[..., None]
    epsilon = rates / (1 + rates * scale[..., None] ** 2)
    got = fpa.build_rule("longhorn").paint(keys, values, rates, initial=initial, return_all=True)
    expected = fpa.build_rule("delta").paint(
        keys, values, epsilon, initial=initial, return_all=True
    )
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


def test_longhorn_with_rates_per_row_can_double_the_rank_in_one_step():
    """Its law ``rank M_t ≤ 2 rank M_{t-1} + 1`` is reached: from ``M_0 = 0`` two steps paint
    rank 3 (no rank-1-per-step law holds), while one rate per step keeps rank ≤ t."""
    keys, values, rates, _ = draw(3, steps=2, height=6, width=6, per_row=True)
    rule = fpa.build_rule("longhorn")
    per_row = rule.paint(keys, values, rates, return_all=True)
    assert (torch.linalg.matrix_rank(per_row) == torch.tensor([1, 3])).all()
    per_step = rule.paint(keys, values, rates[..., :1], return_all=True)
    assert (torch.linalg.matrix_rank(per_step) == torch.tensor([1, 2])).all()


def test_momentum_delta_can_raise_the_rank_by_two_in_one_step():
    """The momentum keeps what the matrix has cancelled: ``M_2 = 0`` while ``P_2 ≠ 0``, so
    ``M_3 = P_2 + v_3 k_3ᵀ`` has rank 2 (α = μ = η = 1)."""
    e1, e2 = torch.eye(3, dtype=torch.float64)[:2]
    keys = torch.stack([e1, e1, e2])
    values = torch.stack([e1, -e1, e2])
    ones = torch.ones(3, 1, dtype=torch.float64)
    painted = fpa.build_rule("momentum-delta").paint(
        keys, values, ones, gate=ones, momentum=ones, return_all=True
    )
    assert torch.linalg.matrix_rank(painted).tolist() == [1, 0, 2]


def test_momentum_deltas_step_alone_is_refused_readably():
    rule = fpa.build_rule("momentum-delta")
    matrix, key, value = torch.zeros(3, 2), torch.ones(2), torch.ones(3)
    with pytest.raises(fpa.ConfigError, match="carries a momentum"):
        rule.step(matrix, key, value, torch.ones(1), gate=torch.ones(1), momentum=torch.ones(1))


@pytest.mark.parametrize(
    ("name", "impl"),
    [("dplr", "parallel"), ("longhorn", "parallel"), ("momentum-delta", "parallel")],
)
def test_a_zoo_rule_trains_and_its_run_loads_and_paints(tmp_path, name, impl):
    result = fpa.train(tiny(rule=name, train_steps=2), out=tmp_path / "run", progress=False)
    assert result.step == 2
    generator = fpa.load(tmp_path / "run")
    assert generator.rule_impl_used == impl
    trace = generator.paint_trace(generator.sample_latents(2))
    assert set(trace.commands.extra) == {command.name for command in generator.rule.commands}
    assert torch.isfinite(trace.images).all()


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("gated-delta", {"per_column_gate": True}),
        ("dplr", {}),
        ("longhorn", {}),
        ("momentum-delta", {}),
    ],
)
def test_a_zoo_rule_decomposes_an_image_within_the_svd_bound(name, options):
    """``fpa decompose`` fits the rule's commands too; from ``M_0 = 0`` with one rate per step
    each of these paints rank ≤ t, so none beats Eckart–Young."""
    image = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    result = decompose(image, rule=name, rule_options=options, steps=3, iterations=60)
    assert torch.isfinite(result.error).all()
    assert result.error[0] < 1
    assert result.error[0] >= result.svd_error[0] * (1 - 1e-5)
    assert (result.errors_by_step >= result.svd_by_step * (1 - 1e-5)).all()
