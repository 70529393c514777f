"""An outside oracle: fla-core's naive (pure PyTorch) rules paint what fpa's do.

fla keeps the state as ``S (K, V)``, keys on the rows: fpa's ``M`` is its transpose. Its
functions take ``(B, T, heads, ·)`` (``dplr_recurrence`` takes ``(B, heads, T, ·)``, fpa's own
layout). Its gates are logs (``g = log α``) and ``β`` scales the write. Its naive functions
compute in float32 whatever they are given, so the comparisons are float32 at 10⁻⁵. The
modules are loaded from their files, without fla's package imports (Triton kernels), so the
oracle runs on any machine where fla-core (a dev extra) is installed; else it is skipped.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import torch
from einops import rearrange

import fpa


def naive_module(relative: str) -> ModuleType:
    spec = importlib.util.find_spec("fla")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("fla-core is not installed (pip install 'fpa[dev]')")
    path = Path(next(iter(spec.submodule_search_locations)), relative)
    if not path.is_file():
        pytest.skip(f"fla-core has no {relative}")
    loaded = importlib.util.spec_from_file_location(f"fla_oracle_{path.stem}", path)
    assert loaded is not None and loaded.loader is not None
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    return module


def problem(seed: int, *, gate_size: int | None = None, steps: int = 10):
    """fpa's inputs ``(B, C, T, ·)`` (C plays fla's heads) and an initial matrix."""
    generator = torch.Generator().manual_seed(seed)
    batch, channels, height, width = 2, 3, 5, 6
    keys = torch.randn(batch, channels, steps, width, generator=generator)
    keys = torch.nn.functional.normalize(keys, dim=-1)
    values = torch.randn(batch, channels, steps, height, generator=generator)
    rates = torch.rand(batch, channels, steps, 1, generator=generator)
    gate = 0.5 + 0.5 * torch.rand(batch, channels, steps, gate_size or 1, generator=generator)
    initial = torch.randn(batch, channels, height, width, generator=generator)
    return keys, values, rates, gate, initial


# The third problem is longer than two chunks of the chunkwise forms (ParallelPaint.chunk_steps).
LENGTHS = [(0, 10), (1, 10), (2, 70)]


def to_fla(tensor: torch.Tensor) -> torch.Tensor:
    return rearrange(tensor, "batch channel step part -> batch step channel part")


def queries(keys: torch.Tensor) -> torch.Tensor:
    """fla's functions also read out ``o = S q``; only the final state is compared."""
    return torch.zeros_like(to_fla(keys))


def fpa_matrix(state: torch.Tensor) -> torch.Tensor:
    return rearrange(state, "batch channel key value -> batch channel value key")


def fla_state(matrix: torch.Tensor) -> torch.Tensor:
    return rearrange(matrix, "batch channel value key -> batch channel key value")


@pytest.mark.parametrize(("seed", "steps"), LENGTHS)
def test_gated_delta_matches_fla_naive_recurrent_gated_delta_rule(seed, steps):
    naive = naive_module("ops/gated_delta_rule/naive.py")
    keys, values, rates, gate, initial = problem(seed, steps=steps)
    _, state = naive.naive_recurrent_gated_delta_rule(
        queries(keys),
        to_fla(keys),
        to_fla(values),
        to_fla(rates)[..., 0],
        to_fla(gate.log())[..., 0],
        initial_state=fla_state(initial),
        output_final_state=True,
    )
    rule = fpa.build_rule("gated-delta")
    for paint in (rule.paint, rule.paint_by_steps):
        painted = paint(keys, values, rates, initial=initial, gate=gate)
        torch.testing.assert_close(painted, fpa_matrix(state), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1])
def test_gated_hebb_matches_fla_naive_simple_gla(seed):
    naive = naive_module("ops/simple_gla/naive.py")
    keys, values, rates, gate, initial = problem(seed)
    _, state = naive.naive_chunk_simple_gla(
        queries(keys),
        to_fla(keys),
        to_fla(rates * values),
        to_fla(gate.log())[..., 0],
        initial_state=fla_state(initial),
        output_final_state=True,
        chunk_size=4,
    )
    rule = fpa.build_rule("gated-hebb")
    for paint in (rule.paint, rule.paint_by_steps):
        painted = paint(keys, values, rates, initial=initial, gate=gate)
        torch.testing.assert_close(painted, fpa_matrix(state), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1])
def test_gated_hebb_per_column_matches_fla_naive_recurrent_gla(seed):
    naive = naive_module("ops/gla/naive.py")
    keys, values, rates, gate, initial = problem(seed, gate_size=6)
    _, state = naive.naive_recurrent_gla(
        queries(keys),
        to_fla(keys),
        to_fla(rates * values),
        to_fla(gate.log()),
        initial_state=fla_state(initial),
        output_final_state=True,
    )
    rule = fpa.build_rule("gated-hebb", per_column_gate=True)
    for paint in (rule.paint, rule.paint_by_steps):
        painted = paint(keys, values, rates, initial=initial, gate=gate)
        torch.testing.assert_close(painted, fpa_matrix(state), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("seed", "steps"), LENGTHS)
def test_gated_delta_per_column_matches_fla_naive_recurrent_kda(seed, steps):
    naive = naive_module("ops/kda/naive.py")
    keys, values, rates, gate, initial = problem(seed, gate_size=6, steps=steps)
    _, state = naive.naive_recurrent_kda(
        queries(keys),
        to_fla(keys),
        to_fla(values),
        to_fla(gate.log()),
        to_fla(rates)[..., 0],
        initial_state=fla_state(initial),
        output_final_state=True,
    )
    rule = fpa.build_rule("gated-delta", per_column_gate=True)
    for paint in (rule.paint, rule.paint_by_steps):
        painted = paint(keys, values, rates, initial=initial, gate=gate)
        torch.testing.assert_close(painted, fpa_matrix(state), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("householders", [1, 2, 3])
def test_gated_delta_with_n_updates_per_step_is_fla_gated_delta_product(householders):
    """DeltaProduct (Siems et al. 2025) takes n_h delta steps per token after one gate. fpa's
    painter with ``updates_per_step = n_h`` feeds the rule n_h consecutive updates per
    controller step, each with its own key, value, rate and gate: gated delta over those
    updates, with the gate of every sub-step after the first at 1, is DeltaProduct."""
    naive = naive_module("ops/gated_delta_product/naive.py")
    generator = torch.Generator().manual_seed(householders)
    batch, channels, steps, height, width = 2, 3, 5, 5, 6
    updates = steps * householders
    keys = torch.randn(batch, channels, updates, width, generator=generator)
    keys = torch.nn.functional.normalize(keys, dim=-1)
    values = torch.randn(batch, channels, updates, height, generator=generator)
    rates = 2 * torch.rand(batch, channels, updates, 1, generator=generator)
    step_gate = 0.5 + 0.5 * torch.rand(batch, channels, steps, 1, generator=generator)
    initial = torch.randn(batch, channels, height, width, generator=generator)
    _, state = naive.naive_recurrent_gated_delta_product(
        torch.zeros(batch, steps, channels, width),
        to_fla(keys),
        to_fla(values),
        to_fla(step_gate.log())[..., 0],
        to_fla(rates)[..., 0],
        scale=1.0,
        initial_state=fla_state(initial),
        output_final_state=True,
        num_householder=householders,
    )
    # The gate of each controller step on its first update, 1 on the others.
    gate = torch.ones(batch, channels, steps, householders, 1)
    gate[:, :, :, 0] = step_gate
    gate = rearrange(gate, "batch channel step update 1 -> batch channel (step update) 1")
    rule = fpa.build_rule("gated-delta")
    for paint in (rule.paint, rule.paint_by_steps):
        painted = paint(keys, values, rates, initial=initial, gate=gate)
        torch.testing.assert_close(painted, fpa_matrix(state), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("seed", "steps"), LENGTHS)
def test_dplr_matches_fla_dplr_recurrence(seed, steps):
    """fla's ``S_t = (diag(exp g) + α βᵀ) S_{t-1} + k vᵀ`` with α = −κ and β = a ⊙ κ."""
    naive = naive_module("ops/generalized_delta_rule/dplr/naive.py")
    keys, values, rates, decay, initial = problem(seed, gate_size=6, steps=steps)
    generator = torch.Generator().manual_seed(100 + seed)
    removal = torch.nn.functional.normalize(torch.randn(keys.shape, generator=generator), dim=-1)
    in_context_rate = torch.rand(keys.shape, generator=generator)
    _, state = naive.dplr_recurrence(
        torch.zeros_like(keys),
        keys,
        rates * values,
        -removal,
        in_context_rate * removal,
        decay.log(),
        initial_state=fla_state(initial),
        output_final_state=True,
    )
    rule = fpa.build_rule("dplr")
    commands = {"decay": decay, "removal_key": removal, "in_context_rate": in_context_rate}
    for paint in (rule.paint, rule.paint_by_steps):
        painted = paint(keys, values, rates, initial=initial, **commands)
        torch.testing.assert_close(painted, fpa_matrix(state), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_momentum_delta_matches_fla_recurrent_momentum_delta_rule_ref(seed):
    """fla's momentum ``Mom_t = μ Mom_{t-1} − η k (v − Sᵀ p)ᵀ`` and ``S_t = α S_{t-1} − β Mom_t``
    with the read key ``p = k`` and ``β = 1`` is fpa's ``P = −Momᵀ``, ``M = Sᵀ``."""
    naive = naive_module("ops/momentum_delta_rule/naive.py")
    keys, values, rates, gate, initial = problem(seed)
    momentum = torch.rand(gate.shape, generator=torch.Generator().manual_seed(200 + seed))
    _, (state, _) = naive.recurrent_momentum_delta_rule_ref(
        queries(keys),
        to_fla(keys),
        to_fla(values),
        to_fla(gate.log())[..., 0],
        to_fla(momentum.log())[..., 0],
        to_fla(keys),
        beta=torch.ones_like(to_fla(rates)[..., 0]),
        eta=to_fla(rates)[..., 0],
        initial_S=fla_state(initial),
        output_final_state=True,
    )
    rule = fpa.build_rule("momentum-delta")
    painted = rule.paint(keys, values, rates, initial=initial, gate=gate, momentum=momentum)
    torch.testing.assert_close(painted, fpa_matrix(state), rtol=1e-5, atol=1e-5)
