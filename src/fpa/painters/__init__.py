"""Painters (controllers): LSTM and Transformer over the painting steps, plus the shared head."""

from fpa.painters.head import PaintCommands, PaintHead
from fpa.painters.lstm import LSTMPainter
from fpa.painters.transformer import TransformerPainter
from fpa.plugins import hookimpl

__all__ = ["LSTMPainter", "PaintCommands", "PaintHead", "TransformerPainter"]


@hookimpl
def fpa_register_painters(register):
    register("lstm", LSTMPainter, description="LSTM controller, state seeded by the latent")
    register(
        "transformer",
        TransformerPainter,
        description="Bidirectional Transformer over the steps, learned step embedding",
    )
