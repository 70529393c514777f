"""Extra per-step commands: what a learning rule declares it needs besides key, value and rate,
and what the painter's head then emits (docs/design.md §3)."""

from __future__ import annotations

from dataclasses import dataclass

from fpa.errors import ConfigError

# A command's size per step: one number, one per key column (W), or one per value row (H).
COMMAND_SIZES = ("one", "column", "row")
# The names ``paint`` and ``step`` already take: a command is passed as a keyword beside them.
RESERVED_NAMES = (
    "keys",
    "values",
    "lr",
    "rates",
    "initial",
    "return_all",
    "matrix",
    "key",
    "value",
)


@dataclass(frozen=True)
class Command:
    """An extra per-step command a rule needs besides key, value and rate.

    ``size`` is one of :data:`COMMAND_SIZES`; ``activation`` names the head's activation that
    produces it; ``neutral`` is the value at which the rule ignores it (a gate's 1); the head
    starts the command's pre-activation at ``initial_bias``.
    """

    name: str
    size: str = "one"
    activation: str = "sigmoid"
    neutral: float = 1.0
    initial_bias: float = 0.0

    def __post_init__(self) -> None:
        if self.size not in COMMAND_SIZES:
            raise ConfigError(
                f"command {self.name!r}: size must be one of {', '.join(COMMAND_SIZES)}; "
                f"got {self.size!r}"
            )
        if not self.name.isidentifier() or self.name in RESERVED_NAMES:
            raise ConfigError(
                f"command name {self.name!r} must be a Python identifier other than "
                f"{', '.join(RESERVED_NAMES)}"
            )

    def width(self, *, height: int, width: int) -> int:
        """Numbers per step for an ``H×W`` matrix."""
        return {"one": 1, "column": width, "row": height}[self.size]
