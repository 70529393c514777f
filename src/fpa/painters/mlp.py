"""The MLP controller: every painting step's features at once from the latent, no recurrence."""

from __future__ import annotations

from einops import rearrange
from torch import Tensor, nn

from fpa.errors import ConfigError


class MLPPainter(nn.Module):
    """``z (B, latent)`` -> ``num_layers`` layers of ``hidden_size`` units (SiLU) ->
    ``Linear(hidden_size, T·code_size)`` -> ``(B, T, code_size)``.

    The last layer expands the latent into ``code_size`` numbers per step (as the LSTM's ``v2``
    input does), and those are the features the head reads: each step's stroke is a direct
    function of the latent, not of a recurrent state carried through the earlier steps. On
    plain regression of 256 shaded icons from fixed latents it learns them faster than the
    LSTM (docs/quality-study.md §9.9). Output: ``(B, T, code_size)``.
    """

    def __init__(
        self,
        *,
        latent_dim: int,
        steps: int,
        hidden_size: int = 512,
        code_size: int = 128,
        num_layers: int = 1,
    ) -> None:
        super().__init__()
        if min(hidden_size, code_size, num_layers) < 1:
            raise ConfigError(
                "the mlp painter needs hidden_size, code_size and num_layers ≥ 1; got "
                f"{hidden_size}, {code_size}, {num_layers}"
            )
        layers: list[nn.Module] = []
        inputs = latent_dim
        for _ in range(num_layers):
            layers += [nn.Linear(inputs, hidden_size), nn.SiLU()]
            inputs = hidden_size
        layers.append(nn.Linear(inputs, steps * code_size))
        self.net = nn.Sequential(*layers)
        self.steps = steps
        self.out_features = code_size

    def forward(self, z: Tensor) -> Tensor:
        return rearrange(self.net(z), "batch (step code) -> batch step code", step=self.steps)
