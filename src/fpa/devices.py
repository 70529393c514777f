"""Choosing the device: CUDA when present, the CPU otherwise; one GPU per torchrun process;
and how many CPU threads a process uses when several share a machine."""

from __future__ import annotations

import os

import torch

from fpa.errors import ConfigError


def resolve_device(name: str, *, local_rank: int | None = None) -> torch.device:
    """``auto`` picks CUDA when present, else the CPU; ``cuda`` without CUDA is an error.

    ``local_rank`` (a process started by torchrun) makes a CUDA device the process's own GPU,
    ``cuda:LOCAL_RANK``, so that N processes on a node use its first N GPUs.
    """
    if name == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            device = torch.device(name)
        except RuntimeError:
            raise ConfigError(f"unknown device {name!r} (use auto, cpu or cuda)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {name} was asked for, but no CUDA device is available")
    if device.type != "cuda" or local_rank is None:
        return device
    if device.index is not None and device.index != local_rank:
        raise ConfigError(
            f"--device {name}: under torchrun each process uses its own GPU, cuda:LOCAL_RANK "
            f"(here cuda:{local_rank}); pass --device cuda"
        )
    count = torch.cuda.device_count()
    if local_rank >= count:
        raise ConfigError(
            f"LOCAL_RANK {local_rank} has no GPU of its own: this node has {count}; start at "
            f"most {count} processes per node (--nproc-per-node)"
        )
    return torch.device("cuda", local_rank)


def cpu_cores() -> int:
    """The cores this process may run on (its affinity mask, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity mask
        return os.cpu_count() or 1


def threads_per_job(jobs: int) -> int:
    """A fair share of the cores for each of ``jobs`` processes, at least one thread.

    PyTorch gives every process a thread per core; several processes each with all the cores
    ran many times slower than a fair share on a 2-core machine (docs/speed.md).
    """
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1; got {jobs}")
    return max(1, cpu_cores() // jobs)


def use_threads(threads: int | None) -> None:
    """Run this process's CPU operators on ``threads`` threads (None: PyTorch's default).

    The thread count can change the order of floating-point sums, so a run repeats exactly
    with the same count.
    """
    checked = check_threads(threads)
    if checked is not None:
        torch.set_num_threads(checked)


def check_threads(threads: int | None) -> int | None:
    """A thread count must be at least 1 (None: PyTorch's default)."""
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be at least 1; got {threads}")
    return threads
