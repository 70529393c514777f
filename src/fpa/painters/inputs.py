"""How the latent enters the controller at each painting step (the paper's v1 and v2 inputs)."""

from __future__ import annotations

import torch
from einops import rearrange, repeat
from torch import Tensor, nn

from fpa.errors import ConfigError
from fpa.painters.head import activation

INPUT_MODES = ("v1", "v2")


class StepInputs(nn.Module):
    """Map ``z (B, latent)`` to per-step inputs ``(B, T, out_features)``.

    ``v1`` feeds the same latent at every step. ``v2`` (the paper's main model) expands the
    latent into a small code per step, ``act(Linear(latent, T·code))`` with ``act`` =
    ``code_activation`` (tanh, the paper's; ``none`` for the authors' models trained without
    their ``--v2_input_sigmoid`` flag), then projects each step's code with a shared
    ``Linear(code, input_size)``, so steps get different inputs. ``step_embedding`` adds a
    learned vector per step to the inputs (the authors' ``use_pos_enc``), off by default.
    """

    def __init__(
        self,
        *,
        latent_dim: int,
        steps: int,
        mode: str,
        code_size: int,
        input_size: int,
        code_activation: str = "tanh",
        step_embedding: bool = False,
    ) -> None:
        super().__init__()
        if mode not in INPUT_MODES:
            raise ConfigError(f"unknown input mode {mode!r} (choose from {', '.join(INPUT_MODES)})")
        self.steps, self.mode = steps, mode
        self.code_activation = activation(code_activation, "code")
        if mode == "v2":
            self.expand = nn.Linear(latent_dim, steps * code_size)
            self.project = nn.Linear(code_size, input_size)
            self.out_features = input_size
        else:
            self.out_features = latent_dim
        self.step_embedding = (
            nn.Parameter(torch.randn(steps, self.out_features) * 0.02) if step_embedding else None
        )

    def forward(self, z: Tensor) -> Tensor:
        if self.mode == "v1":
            inputs = repeat(z, "batch latent -> batch step latent", step=self.steps)
        else:
            codes = rearrange(
                self.code_activation(self.expand(z)),
                "batch (step code) -> batch step code",
                step=self.steps,
            )
            inputs = self.project(codes)
        return inputs if self.step_embedding is None else inputs + self.step_embedding
