"""Claims on grid cells, so several ``fpa ablate`` processes can share one grid.

A process claims a cell by creating ``OUT/.claims/CELL`` exclusively (``O_EXCL``) with its
host and process id; others skip the cell and wait for its result. A claim whose process is
gone (same host, no such pid) is stale and is taken over; the run then resumes from its
checkpoint.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

CLAIMS = ".claims"


def claim_path(out: Path, name: str) -> Path:
    return out / CLAIMS / name


def holder_alive(path: Path) -> bool:
    """Whether the process that wrote the claim still runs (another host's: assume so)."""
    try:
        host, pid = path.read_text().split()
    except (OSError, ValueError):
        return False
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim(out: Path, name: str) -> bool:
    """Claim the cell ``name`` for this process; False when a live process holds it."""
    path = claim_path(out, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if holder_alive(path):
                return False
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(handle, "w") as file:
            file.write(f"{socket.gethostname()} {os.getpid()}\n")
        return True
    return False


def release(out: Path, name: str) -> None:
    claim_path(out, name).unlink(missing_ok=True)
