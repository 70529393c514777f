"""The LSTM controller: one recurrent step per painting step, its state seeded by the latent."""

from __future__ import annotations

from einops import rearrange
from torch import Tensor, nn

from fpa.errors import ConfigError
from fpa.painters.inputs import StepInputs


class LSTMPainter(nn.Module):
    """LSTM over the T painting steps, as in the paper.

    The initial ``(h, c)`` of every layer comes from ``Linear(latent, 2·hidden·layers)`` when
    ``init_state_from_latent`` (the paper's choice), else zeros. ``code_activation`` and
    ``step_embedding`` go to :class:`StepInputs`. ``projection_size > 0`` puts
    ``ReLU(Linear(hidden, projection_size))`` after the LSTM (the authors' ``wide_out_dim``).
    Output: ``(B, T, hidden_size)``, or ``(B, T, projection_size)`` with a projection.
    """

    def __init__(
        self,
        *,
        latent_dim: int,
        steps: int,
        hidden_size: int = 256,
        num_layers: int = 1,
        input_mode: str = "v2",
        code_size: int = 8,
        input_size: int = 128,
        init_state_from_latent: bool = True,
        code_activation: str = "tanh",
        step_embedding: bool = False,
        projection_size: int = 0,
    ) -> None:
        super().__init__()
        if projection_size < 0:
            raise ConfigError(f"projection_size must be ≥ 0 (0 = none); got {projection_size}")
        self.inputs = StepInputs(
            latent_dim=latent_dim,
            steps=steps,
            mode=input_mode,
            code_size=code_size,
            input_size=input_size,
            code_activation=code_activation,
            step_embedding=step_embedding,
        )
        self.lstm = nn.LSTM(self.inputs.out_features, hidden_size, num_layers, batch_first=True)
        self.initial_state = (
            nn.Linear(latent_dim, 2 * num_layers * hidden_size) if init_state_from_latent else None
        )
        self.projection = (
            nn.Sequential(nn.Linear(hidden_size, projection_size), nn.ReLU())
            if projection_size
            else None
        )
        self.num_layers = num_layers
        self.out_features = projection_size or hidden_size

    def forward(self, z: Tensor) -> Tensor:
        state = None
        if self.initial_state is not None:
            hidden, cell = rearrange(
                self.initial_state(z),
                "batch (pair layer unit) -> pair layer batch unit",
                pair=2,
                layer=self.num_layers,
            ).contiguous()
            state = (hidden, cell)
        # Copies (EMA, deepcopy, load_state_dict) leave cuDNN's weight buffer fragmented.
        self.lstm.flatten_parameters()
        features, _ = self.lstm(self.inputs(z), state)
        return features if self.projection is None else self.projection(features)
