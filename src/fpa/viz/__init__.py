"""Figures of the painting process, as tensors and PNG bytes (the CLI only wraps these)."""

from fpa.viz.progress import painting_progress, png_bytes, step_indices

__all__ = ["painting_progress", "png_bytes", "step_indices"]
