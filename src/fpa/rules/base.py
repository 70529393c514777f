"""The learning-rule contract: one rank-1 update per step (``step``) and all steps (``paint``).

Tensor conventions (docs/design.md §2): ``keys (..., T, W)``, ``values (..., T, H)`` and rates
``lr (..., T, R)`` with R = 1 (one rate per step) or R = H (one per row). The rate keeps its
R axis everywhere, from the head through ``paint`` to ``step``, so a step's rate ``(..., R)``
scales ``value (..., H)`` by plain broadcasting. The painted matrix is ``(..., H, W)``: values
index rows, keys index columns. A rule receives finished keys, values and rates; activations
belong to the painter's head.

A rule that needs more per step (a gate, say) declares it in :attr:`LearningRule.commands`:
the head emits each declared command ``(..., T, size)`` and ``paint`` and ``step`` receive it
as a keyword of that name (one step's slice ``(..., size)`` for ``step``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from einops import einsum
from torch import Tensor, nn

from fpa.commands import Command
from fpa.errors import ConfigError

LOW_PRECISION = (torch.float16, torch.bfloat16)


class LearningRule(nn.Module):
    """Base class of every learning rule.

    A subclass implements :meth:`step`; :meth:`paint` then folds ``step`` over the T steps.
    A rule that carries more than the matrix from step to step (a momentum) implements
    :meth:`start_carry` and :meth:`step_carrying` instead.
    Rules with a parallel form override :meth:`paint` and keep :meth:`paint_by_steps` as the
    reference. ``options()`` returns the constructor keywords, which the rule's ``repr`` shows
    (a generator is rebuilt from its config's ``rule_options``, not from this).
    ``commands`` declares the extra per-step commands (:class:`Command`) the rule takes.
    """

    commands: tuple[Command, ...] = ()

    def step(self, matrix: Tensor, key: Tensor, value: Tensor, lr: Tensor) -> Tensor:
        """One update: ``matrix (..., H, W)``, ``key (..., W)``, ``value (..., H)``,
        ``lr (..., R)`` with R = 1 or H (so ``lr * value`` scales the rows); returns the next
        matrix ``(..., H, W)``. A rule with commands adds one keyword each, taking the step's
        slice ``(..., size)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement step()")

    def start_carry(self, matrix: Tensor) -> tuple[Tensor, ...]:
        """What the rule carries from step to step besides the matrix (a momentum), at the
        start ``M_0``; nothing by default."""
        return ()

    def step_carrying(
        self,
        matrix: Tensor,
        carry: tuple[Tensor, ...],
        key: Tensor,
        value: Tensor,
        lr: Tensor,
        **commands: Tensor,
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        """:meth:`step` that also reads and returns what the rule carries; a rule that carries
        nothing keeps this default, ``step`` with the carry passed through."""
        return self.step(matrix, key, value, lr, **commands), carry

    def effective_rates(self, rates: Tensor) -> Tensor:
        """The rates actually used, ``(..., T, R)`` in and out; a rule may fix some of them
        (the delta rule's first-step option does)."""
        return rates

    def paint(
        self,
        keys: Tensor,
        values: Tensor,
        lr: Tensor,
        *,
        initial: Tensor | None = None,
        return_all: bool = False,
        **commands: Tensor,
    ) -> Tensor:
        """Apply all T updates with rates ``lr (..., T, 1)`` or ``(..., T, H)`` and the declared
        commands ``(..., T, size)``; returns ``(..., H, W)``, or ``(..., T, H, W)`` with
        ``return_all``."""
        return self.paint_by_steps(
            keys, values, lr, initial=initial, return_all=return_all, **commands
        )

    def paint_by_steps(
        self,
        keys: Tensor,
        values: Tensor,
        lr: Tensor,
        *,
        initial: Tensor | None = None,
        return_all: bool = False,
        **commands: Tensor,
    ) -> Tensor:
        """The reference: fold :meth:`step` (:meth:`step_carrying`) over the steps, one update
        at a time."""
        check_rule_inputs(keys, values, lr, initial)
        check_commands(self.commands, keys, values, commands)
        rates = self.effective_rates(lr)
        matrix = initial_matrix(keys, values, initial)
        carry = self.start_carry(matrix)
        partial = []
        for t in range(keys.shape[-2]):
            now = {name: command[..., t, :] for name, command in commands.items()}
            matrix, carry = self.step_carrying(
                matrix, carry, keys[..., t, :], values[..., t, :], rates[..., t, :], **now
            )
            partial.append(matrix)
        return torch.stack(partial, dim=-3) if return_all else matrix

    def forward(self, keys: Tensor, values: Tensor, lr: Tensor, **kwargs: Any) -> Tensor:
        return self.paint(keys, values, lr, **kwargs)

    def options(self) -> dict[str, Any]:
        """Constructor keywords that rebuild this rule, shown by its ``repr``."""
        return {}

    @property
    def has_parallel_form(self) -> bool:
        return type(self).paint is not LearningRule.paint

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value!r}" for key, value in self.options().items())


def check_rule_inputs(keys: Tensor, values: Tensor, lr: Tensor, initial: Tensor | None) -> None:
    """Raise a readable ConfigError when shapes do not follow the rule conventions."""
    if keys.dim() < 2 or values.dim() < 2:
        raise ConfigError(
            f"keys and values need shape (..., T, W) and (..., T, H); got keys "
            f"{tuple(keys.shape)} and values {tuple(values.shape)}"
        )
    if keys.shape[:-1] != values.shape[:-1]:
        raise ConfigError(
            f"keys {tuple(keys.shape)} and values {tuple(values.shape)} must agree on every "
            "dimension but the last (..., T)"
        )
    per_step, per_row = (*values.shape[:-1], 1), tuple(values.shape)
    if tuple(lr.shape) not in (per_step, per_row):
        hint = "; give one rate per step its own axis: lr[..., None]"
        raise ConfigError(
            f"lr must have shape (..., T, 1) = {per_step} (one rate per step) or "
            f"(..., T, H) = {per_row} (one per row); got {tuple(lr.shape)}"
            + (hint if lr.shape == values.shape[:-1] else "")
        )
    if initial is not None:
        expected = (*keys.shape[:-2], values.shape[-1], keys.shape[-1])
        if initial.shape[-2:] != expected[-2:]:
            raise ConfigError(
                f"initial matrix must have shape {expected} (..., H, W); got {tuple(initial.shape)}"
            )


def required(command: Tensor | None, name: str) -> Tensor:
    """A declared command that ``step`` was given, or a readable ConfigError."""
    if command is None:
        raise ConfigError(f"this rule's step needs the command {name!r}")
    return command


def check_commands(
    declared: tuple[Command, ...], keys: Tensor, values: Tensor, commands: Mapping[str, Tensor]
) -> None:
    """Raise a readable ConfigError unless ``commands`` are exactly the declared ones, each
    ``(..., T, size)`` like the keys."""
    expected = [command.name for command in declared]
    if sorted(commands) != sorted(expected):
        raise ConfigError(
            f"this rule takes the commands {expected or 'none'} besides keys, values and "
            f"rates; got {sorted(commands) or 'none'}"
        )
    for command in declared:
        size = command.width(height=values.shape[-1], width=keys.shape[-1])
        shape = (*keys.shape[:-1], size)
        if tuple(commands[command.name].shape) != shape:
            raise ConfigError(
                f"command {command.name!r} must have shape (..., T, {command.size}) = {shape}; "
                f"got {tuple(commands[command.name].shape)}"
            )


def initial_matrix(keys: Tensor, values: Tensor, initial: Tensor | None) -> Tensor:
    """``M_0``: the given initial matrix, or zeros of shape ``(..., H, W)``."""
    shape = (*keys.shape[:-2], values.shape[-1], keys.shape[-1])
    if initial is None:
        return keys.new_zeros(shape)
    return initial.expand(shape)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Half-precision inputs are solved in float32: triangular solves lose too much in bf16."""
    return torch.float32 if dtype in LOW_PRECISION else dtype


def sum_rank_one(
    rows: Tensor, columns: Tensor, initial: Tensor | None, *, return_all: bool
) -> Tensor:
    """``M_0 + Σ_t rows_t columns_tᵀ`` — one matmul — or all partial sums with ``return_all``."""
    if return_all:
        terms = einsum(rows, columns, "... step row, ... step col -> ... step row col")
        painted = terms.cumsum(dim=-3)
        return painted if initial is None else painted + initial.unsqueeze(-3)
    painted = einsum(rows, columns, "... step row, ... step col -> ... row col")
    return painted if initial is None else painted + initial


# Steps per chunk of the chunkwise form (ParallelPaint.chunk_steps): above it, the (T, T)
# systems of the quadratic forms cost more than a short loop over (C, C) ones. Timed alone on
# the CPU in docs/rules.md ("Speed").
CHUNK_STEPS = 32


class ParallelPaint:
    """Shared plumbing of parallel rules: validate, upcast half precision, assemble, cast back.

    A rule using it implements ``rank_one_factors(keys, values, rates, initial)``, rates
    ``(..., T, R)``, returning ``(rows (..., T, H), columns (..., T, W))`` with
    ``M_T = M_0 + Σ_t rows_t columns_tᵀ``; a rule with commands overrides :meth:`assemble`.

    ``chunk_steps``: a rule whose whole state is the matrix (no momentum) and whose parallel
    form is quadratic in T sets it; ``M_T`` over more steps is then the parallel form folded
    over chunks of that many steps, each starting from the matrix the last one painted (the
    chunkwise form of flash-linear-attention's kernels): O(T·C) instead of O(T²).
    """

    effective_rates: Callable[[Tensor], Tensor]  # LearningRule's: this is mixed into one
    commands: tuple[Command, ...]
    chunk_steps: int | None = None

    def paint(
        self,
        keys: Tensor,
        values: Tensor,
        lr: Tensor,
        *,
        initial: Tensor | None = None,
        return_all: bool = False,
        **commands: Tensor,
    ) -> Tensor:
        check_rule_inputs(keys, values, lr, initial)
        check_commands(self.commands, keys, values, commands)
        out_dtype = torch.result_type(keys, values)
        work = compute_dtype(out_dtype)
        # Autocast off: the Gram matrix and the triangular solve stay in float32 (or float64).
        # In bf16 the solve's forward substitution accumulates rounding over T steps and the
        # painting drifts visibly; the matmuls here are a small part of a training step.
        with torch.autocast(device_type=keys.device.type, enabled=False):
            keys, values = keys.to(work), values.to(work)
            rates = self.effective_rates(lr).to(work)
            if initial is not None:
                initial = initial.to(work)
            commands = {name: command.to(work) for name, command in commands.items()}
            chunk = self.chunk_steps
            if return_all or chunk is None or keys.shape[-2] <= chunk:
                painted = self.assemble(keys, values, rates, initial, return_all, **commands)
            else:
                painted = self.assemble_in_chunks(keys, values, rates, initial, chunk, **commands)
        return painted.to(out_dtype)

    def assemble_in_chunks(
        self,
        keys: Tensor,
        values: Tensor,
        rates: Tensor,
        initial: Tensor | None,
        chunk: int,
        **commands: Tensor,
    ) -> Tensor:
        """``M_T``: :meth:`assemble` on each chunk of ``chunk`` steps in turn, from the matrix
        the chunk before it painted (``M_0`` first). Rates arrive already effective. The inputs
        are split, not sliced: the backward of a split concatenates the chunks' gradients
        once, where each slice's would fill a whole tensor of zeros."""
        inputs = (tensor.split(chunk, dim=-2) for tensor in (keys, values, rates))
        named = {name: command.split(chunk, dim=-2) for name, command in commands.items()}
        matrix = initial
        for index, (key, value, rate) in enumerate(zip(*inputs, strict=True)):
            now = {name: split[index] for name, split in named.items()}
            matrix = self.assemble(key, value, rate, matrix, False, **now)
        assert matrix is not None
        return matrix

    def assemble(
        self,
        keys: Tensor,
        values: Tensor,
        rates: Tensor,
        initial: Tensor | None,
        return_all: bool,
        **commands: Tensor,
    ) -> Tensor:
        """The painting from checked inputs in the working dtype: ``M_0 + Σ_t rows_t
        columns_tᵀ`` from :meth:`rank_one_factors` by default."""
        rows, columns = self.rank_one_factors(keys, values, rates, initial)
        return sum_rank_one(rows, columns, initial, return_all=return_all)

    def rank_one_factors(
        self, keys: Tensor, values: Tensor, rates: Tensor, initial: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        raise NotImplementedError


def solve_unit_lower(lower: Tensor, rhs: Tensor) -> Tensor:
    """Solve ``(I + tril₋₁(lower)) X = rhs``: the solve reads only the strictly lower triangle
    of ``lower`` (the unit diagonal is implied), and its gradient is zero elsewhere, so a
    caller passes a whole matrix; an explicit ``tril`` would copy it for nothing."""
    return torch.linalg.solve_triangular(lower, rhs, upper=False, unitriangular=True)
