"""The Transformer controller: bidirectional self-attention over all painting steps at once."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from fpa.painters.inputs import StepInputs


class TransformerPainter(nn.Module):
    """Encoder-only Transformer over the T steps, no causal mask, learned step embedding.

    Every step sees every other, so the controller can plan the whole painting; the rule still
    applies the updates in order. Output: ``(B, T, hidden_size)``.
    """

    def __init__(
        self,
        *,
        latent_dim: int,
        steps: int,
        hidden_size: int = 256,
        num_layers: int = 4,
        num_heads: int = 4,
        ff_mult: int = 4,
        dropout: float = 0.0,
        input_mode: str = "v2",
        code_size: int = 8,
        input_size: int = 128,
    ) -> None:
        super().__init__()
        self.inputs = StepInputs(
            latent_dim=latent_dim,
            steps=steps,
            mode=input_mode,
            code_size=code_size,
            input_size=input_size,
        )
        self.embed = nn.Linear(self.inputs.out_features, hidden_size)
        self.step_embedding = nn.Parameter(torch.randn(steps, hidden_size) * 0.02)
        layer = nn.TransformerEncoderLayer(
            hidden_size,
            num_heads,
            dim_feedforward=ff_mult * hidden_size,
            dropout=dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden_size)
        self.out_features = hidden_size

    def forward(self, z: Tensor) -> Tensor:
        tokens = self.embed(self.inputs(z)) + self.step_embedding
        return self.norm(self.encoder(tokens))
