"""Exceptions that fpa raises for bad input: the CLI turns each into one readable line."""


class FpaError(Exception):
    """Base class for every error fpa reports to a user as one line (exit code 2 in the CLI)."""


class ConfigError(FpaError, ValueError):
    """An option, shape or combination of options that fpa cannot work with."""


class UnknownComponentError(FpaError, LookupError):
    """A component name that no installed plugin registered."""

    def __init__(self, kind: str, name: str, known: list[str], closest: str | None) -> None:
        self.kind, self.name, self.known, self.closest = kind, name, known, closest
        known_text = ", ".join(known) if known else "none"
        hint = f"; did you mean {closest!r}?" if closest else ""
        super().__init__(f"unknown {kind[:-1]} {name!r}{hint} (known {kind}: {known_text})")

    def __str__(self) -> str:
        return self.args[0]


class PluginConflictError(FpaError):
    """Two plugins registered the same component name."""


class DataError(FpaError, ValueError):
    """Data that cannot be found, read or used."""
