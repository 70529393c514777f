"""How the latent enters the controller at each painting step (the paper's v1 and v2 inputs)."""

from __future__ import annotations

from einops import rearrange, repeat
from torch import Tensor, nn

from fpa.errors import ConfigError

INPUT_MODES = ("v1", "v2")


class StepInputs(nn.Module):
    """Map ``z (B, latent)`` to per-step inputs ``(B, T, out_features)``.

    ``v1`` feeds the same latent at every step. ``v2`` (the paper's main model) expands the
    latent into a small code per step, ``tanh(Linear(latent, T·code))``, then projects each
    step's code with a shared ``Linear(code, input_size)``, so steps get different inputs.
    """

    def __init__(
        self, *, latent_dim: int, steps: int, mode: str, code_size: int, input_size: int
    ) -> None:
        super().__init__()
        if mode not in INPUT_MODES:
            raise ConfigError(f"unknown input mode {mode!r} (choose from {', '.join(INPUT_MODES)})")
        self.steps, self.mode = steps, mode
        if mode == "v2":
            self.expand = nn.Linear(latent_dim, steps * code_size)
            self.project = nn.Linear(code_size, input_size)
            self.out_features = input_size
        else:
            self.out_features = latent_dim

    def forward(self, z: Tensor) -> Tensor:
        if self.mode == "v1":
            return repeat(z, "batch latent -> batch step latent", step=self.steps)
        codes = rearrange(
            self.expand(z).tanh(), "batch (step code) -> batch step code", step=self.steps
        )
        return self.project(codes)
