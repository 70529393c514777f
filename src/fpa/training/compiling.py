"""``--compile``: the generator and discriminator under ``torch.compile``, or eager with a warning.

``torch.compile`` needs a working compiler toolchain (a C++ compiler on the CPU, Triton on
CUDA) and a Python that Dynamo supports, and it compiles lazily, at the first call: a missing
toolchain would only fail in the middle of the first training step. So before compiling
anything, a tiny function is compiled and run forward and backward once per device type; where
that fails, training goes on without compiling and says why in a warning.
"""

from __future__ import annotations

import warnings
from typing import cast

import torch
from torch import nn

from fpa.errors import error_summary

_probed: dict[str, str | None] = {}


def _probe_function(x: torch.Tensor) -> torch.Tensor:
    return (x.sin() * 2).sum()


def compile_unavailable(device: torch.device) -> str | None:
    """Why ``torch.compile`` cannot work on ``device`` (``None`` when it can); probed once."""
    if device.type not in _probed:
        try:
            x = torch.ones(4, device=device, requires_grad=True)
            torch.compile(_probe_function)(x).backward()
            _probed[device.type] = None
        except Exception as error:  # any failure means: no compiling here
            lines = str(error).strip().splitlines()
            _probed[device.type] = f"{type(error).__name__}: {lines[0] if lines else ''}".strip()
    return _probed[device.type]


def compile_modules(modules: list[nn.Module], *, device: torch.device) -> list[nn.Module]:
    """``torch.compile`` of each module, or the modules themselves (with one warning) where
    compiling does not work here.

    A compiled module shares its parameters with the plain one: checkpoints keep saving the
    plain module, so they load without ``torch.compile`` (and without ``_orig_mod.`` prefixes).
    """
    reason = compile_unavailable(device)
    if reason is None:
        try:
            return [cast(nn.Module, torch.compile(module)) for module in modules]
        except Exception as error:  # e.g. a Python version that Dynamo does not support
            reason = f"{type(error).__name__}: {error_summary(error)}"
    warnings.warn(
        f"--compile: torch.compile does not work here ({reason}); training without it",
        RuntimeWarning,
        stacklevel=2,
    )
    return list(modules)
