"""Mixed precision: which autocast dtype a ``precision`` names, and where it can run."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import torch

from fpa.errors import ConfigError

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(precision: str, device: torch.device) -> None:
    """fp16 needs CUDA (and a gradient scaler); bf16 needs a device that supports it."""
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("--precision fp16 needs a CUDA device; use fp32 or bf16 on the CPU")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError(
            f"--precision bf16: {torch.cuda.get_device_name(device)} has no bf16; use fp32 or fp16"
        )
    available = getattr(torch.amp, "is_autocast_available", None)  # torch ≥ 2.4
    if precision == "bf16" and available is not None and not available(device.type):
        raise ConfigError(f"--precision bf16: no autocast on {device.type}; use fp32")


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The dtype autocast computes in, or ``None`` for full precision (fp32)."""
    return AUTOCAST_DTYPES.get(precision)


def autocast(device: torch.device, dtype: torch.dtype | None) -> AbstractContextManager[Any]:
    """Autocast to ``dtype`` on ``device``'s type; a no-op for ``None``."""
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)
