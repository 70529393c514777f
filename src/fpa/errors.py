"""Exceptions that fpa raises for bad input: the CLI turns each into one readable line."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable


def closest_name(name: str, known: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The known name closest to ``name``, or ``None`` when none is close."""
    closest = difflib.get_close_matches(str(name), list(known), n=1, cutoff=cutoff)
    return closest[0] if closest else None


def did_you_mean(name: str, known: Iterable[str], *, cutoff: float = 0.6) -> str:
    """``"; did you mean 'delta'?"`` for the closest known name, or ``""`` when none is close."""
    return suggestion(closest_name(name, known, cutoff=cutoff))


def suggestion(closest: str | None) -> str:
    """``"; did you mean 'delta'?"``, or ``""`` without a close name."""
    return f"; did you mean {closest!r}?" if closest else ""


class FpaError(Exception):
    """Base class for every error fpa reports to a user as one line (exit code 2 in the CLI)."""


class ConfigError(FpaError, ValueError):
    """An option, shape or combination of options that fpa cannot work with."""


class UnknownComponentError(FpaError, LookupError):
    """A component name that no installed plugin registered."""

    def __init__(self, kind: str, name: str, known: list[str], closest: str | None) -> None:
        self.kind, self.name, self.known, self.closest = kind, name, known, closest
        known_text = ", ".join(known) if known else "none"
        super().__init__(
            f"unknown {kind[:-1]} {name!r}{suggestion(closest)} (known {kind}: {known_text})"
        )

    def __str__(self) -> str:
        return self.args[0]


class PluginConflictError(FpaError):
    """Two plugins registered the same component name."""


class PluginContractError(FpaError):
    """A plugin's component that broke fpa's contract (e.g. a rule painting the wrong shape)."""


class DataError(FpaError, ValueError):
    """Data that cannot be found, read or used."""


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
UNSUPPORTED_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")
REFUSED = (
    "it holds more than tensors and plain values{holding}, and fpa refuses such files because "
    "loading them could run code"
)


def weights_only_refusal(error: BaseException | str) -> str | None:
    """For ``torch.load(weights_only=True)`` refusing a file: what it held, in fpa's words.

    PyTorch's own text advises loading with ``weights_only=False``; beside a file that may run
    code when loaded that is the wrong advice, so fpa never repeats it. ``None`` for any other
    error.
    """
    text = str(error)
    if "Weights only load failed" not in text and "WeightsUnpickler" not in text:
        return None
    found = UNSUPPORTED_GLOBAL.search(text)
    return REFUSED.format(holding=f" ({found.group(1)})" if found else "")


def error_summary(error: BaseException | str) -> str:
    """One line of an exception's text, to embed in a one-line error message.

    Library errors (PyTorch's above all) often go on for many lines of advice; the first line
    says what happened. When it only introduces what follows (``...: ``), the next line is
    kept too, so that ``Error(s) in loading state_dict for X:`` still says which tensor.
    PyTorch's refusal of a file holding more than tensors is reworded (see
    :func:`weights_only_refusal`).
    """
    refusal = weights_only_refusal(error)
    if refusal is not None:
        return refusal
    text = ANSI_ESCAPE.sub("", str(error))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return type(error).__name__ if isinstance(error, BaseException) else ""
    summary = lines[0]
    if summary.endswith(":") and len(lines) > 1:
        summary = f"{summary} {lines[1]}"
    return summary
