"""``digits``, ``emoji`` and ``icons``: small nets trained on fpa's built-in data, shipped as
weights.

``scripts/train_feature_extractors.py`` reproduces the three files (seeded); docs/evaluation.md
lists their test accuracy. A weights file holds the network's shape, its state dict, and how
it was made, and is read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import torch

from fpa.errors import ConfigError, error_summary
from fpa.features.base import FeatureExtractor
from fpa.features.network import SmallConvNet
from fpa.files import load_tensors


def read_weights(path: Path) -> tuple[dict[str, Any], str]:
    """The weights file's content and the first 12 hex digits of its SHA-256."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"cannot read feature weights {path}: {error.strerror}") from None
    try:
        content = load_tensors(path)
    except Exception as error:
        raise ConfigError(f"{path} is not a feature-weights file: {error_summary(error)}") from None
    if not isinstance(content, dict) or "state_dict" not in content:
        raise ConfigError(f"{path} is not a feature-weights file (no state_dict)")
    return content, hashlib.sha256(data).hexdigest()[:12]


def shipped_weights(file_name: str) -> Path:
    return Path(str(resources.files("fpa.features") / "weights" / file_name))


class OfflineFeatures(FeatureExtractor):
    """A :class:`SmallConvNet` whose pooled activations are the features."""

    weights_file: ClassVar[str]
    input_size: ClassVar[tuple[int, int]] = (32, 32)

    def __init__(self, *, weights: str | None = None) -> None:
        super().__init__()
        path = Path(weights).expanduser() if weights else shipped_weights(self.weights_file)
        content, digest = read_weights(path)
        self.network = SmallConvNet(
            in_channels=int(content["in_channels"]),
            num_classes=int(content["num_classes"]),
            width=int(content["width"]),
        )
        state = {key: value.float() for key, value in content["state_dict"].items()}
        try:
            self.network.load_state_dict(state)
        except RuntimeError as error:
            raise ConfigError(
                f"{path} does not fit {type(self).__name__}: {error_summary(error)}"
            ) from None
        self.network.eval().requires_grad_(False)
        self.feature_dim = self.network.feature_dim
        self.num_classes = self.network.classifier.out_features
        self.about = {key: value for key, value in content.items() if key != "state_dict"}
        self.digest = digest

    def fingerprint(self) -> str:
        return f"{type(self).__name__}-{self.digest}"

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return self.network.features(images)

    @torch.no_grad()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Class scores, e.g. for a histogram of which digits a generator paints."""
        return self.network(self.convert(images))

    def train(self, mode: bool = True) -> OfflineFeatures:
        """Always in eval mode: batch norm uses its stored statistics."""
        return super().train(False)


class DigitFeatures(OfflineFeatures):
    """A digit classifier (0–9) trained on the built-in MNIST digits; grey 32×32 input."""

    weights_file = "digits.pt"
    input_channels = 1
    default_for = ("mnist",)


class EmojiFeatures(OfflineFeatures):
    """An emoji-identity net (which of the 4,495 OpenMoji emoji, under augmentation) trained on
    the built-in emoji; colour 32×32 input."""

    weights_file = "emoji.pt"
    input_channels = 3
    default_for = ("emoji", "tango", "oxygen", "gnome")


class IconFeatures(OfflineFeatures):
    """An icon/emoji-identity net (which of ~6,150 distinct pictures, under augmentation) trained
    on the built-in emoji plus the tango, oxygen and gnome icons with another seed; colour
    32×32 input. The default for no data set: it is the independent check on scores tuned
    with :class:`EmojiFeatures`."""

    weights_file = "icons.pt"
    input_channels = 3
    default_for = ()
