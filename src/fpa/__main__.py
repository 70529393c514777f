"""``python -m fpa`` runs the CLI (also what ``torchrun -m fpa`` uses)."""

from fpa.cli import run

run()
