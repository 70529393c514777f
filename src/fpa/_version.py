"""The version of fpa, kept in one place for packaging and checkpoints."""

__version__ = "0.1.0"
