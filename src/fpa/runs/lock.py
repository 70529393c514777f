"""One writer per run folder: an exclusive lock held for the whole run.

The lock is ``flock`` on ``RUN/.lock``, which names the holder's PID. The operating system
releases it when the holder exits in any way (an exception, Ctrl-C, ``kill -9``), so a stale
lock file never blocks the next run; only a live process holds the lock.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import TracebackType

from fpa.errors import FpaError

LOCK_FILE = ".lock"

try:
    import fcntl
except ImportError:  # not POSIX: runs are not locked there
    fcntl = None  # type: ignore[assignment]


def read_holder(handle: int, *, tries: int = 50, pause: float = 0.01) -> str:
    """The PID the holder of the lock wrote; a holder that won a start race writes it just
    after taking the lock, so an empty file is read again for up to ``tries × pause`` s."""
    for _ in range(tries):
        holder = os.pread(handle, 64, 0).decode(errors="replace").strip()
        if holder:
            return holder
        time.sleep(pause)
    return ""


class RunInUseError(FpaError):
    """Another live process writes this run folder."""


class RunLock:
    """``with RunLock(root):`` holds the run folder ``root`` exclusively for the block.

    The folder is made if it does not exist; if the block fails and the folder was made here
    and holds nothing but the lock, it is removed again.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.path = self.root / LOCK_FILE
        self.handle: int | None = None
        self.made_folder = False

    def __enter__(self) -> RunLock:
        if self.root.exists() and not self.root.is_dir():
            return self  # RunDir.check reports a file in the way, with its own message
        self.made_folder = not self.root.exists()
        self.root.mkdir(parents=True, exist_ok=True)
        handle = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = read_holder(handle)
                os.close(handle)
                who = f"PID {holder}" if holder else "just starting: its PID is not written yet"
                raise RunInUseError(
                    f"{self.root} is in use: another fpa process ({who}) is writing "
                    "this run; wait for it to finish, stop it, or choose another --out"
                ) from None
        os.ftruncate(handle, 0)
        os.write(handle, f"{os.getpid()}\n".encode())
        self.handle = handle
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.handle is None:
            return
        os.close(self.handle)  # closing the descriptor releases the flock
        self.handle = None
        if kind is not None and self.made_folder:
            self.path.unlink(missing_ok=True)
            if not any(self.root.iterdir()):
                self.root.rmdir()
