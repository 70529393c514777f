"""Painters (controllers): LSTM, Transformer and MLP over the steps, plus the shared head."""

from fpa.painters.head import PaintCommands, PaintHead
from fpa.painters.lstm import LSTMPainter
from fpa.painters.mlp import MLPPainter
from fpa.painters.transformer import TransformerPainter
from fpa.plugins import hookimpl

__all__ = ["LSTMPainter", "MLPPainter", "PaintCommands", "PaintHead", "TransformerPainter"]


@hookimpl
def fpa_register_painters(register):
    register("lstm", LSTMPainter, description="LSTM controller, state seeded by the latent")
    register(
        "transformer",
        TransformerPainter,
        description="Bidirectional Transformer over the steps, learned step embedding",
    )
    register(
        "mlp",
        MLPPainter,
        description="MLP from the latent to every step's features at once, no recurrence",
    )
