"""``inception``: the Inception-v3 pool features that FID and KID are defined on.

The network and its weights are torch-fidelity's port of the TensorFlow graph that the FID
paper used (Heusel et al. 2017), so scores compare with published ones. The weights file is
not shipped: fpa looks for it at ``--inception-weights PATH``, then ``$FPA_INCEPTION_WEIGHTS``,
then torch's hub cache, and downloads it only when asked (``download=True``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from fpa.errors import ConfigError, error_summary
from fpa.features.base import FeatureExtractor
from fpa.files import load_tensors

WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + WEIGHTS_FILE


def hub_weights_path() -> Path:
    """Where torch-fidelity's own download puts the weights (torch's hub cache)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


def find_weights(weights: str | None, *, download: bool) -> Path:
    """The weights file to use, or an error that says which file is missing and where to put
    it. Every candidate is first read with ``weights_only=True`` so no pickled code runs."""
    if weights:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise ConfigError(f"--inception-weights {path}: no such file")
        return path
    configured = os.environ.get("FPA_INCEPTION_WEIGHTS")
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise ConfigError(f"FPA_INCEPTION_WEIGHTS={path}: no such file")
        return path
    cached = hub_weights_path()
    if cached.is_file():
        return cached
    if download:
        cached.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(WEIGHTS_URL, str(cached))
        return cached
    raise ConfigError(
        f"the Inception features need {WEIGHTS_FILE} (from {WEIGHTS_URL}); put it at "
        f"{cached} or pass --inception-weights PATH (or allow the download with --download); "
        "for mnist and emoji the offline features need no file"
    )


class InceptionFeatures(FeatureExtractor):
    """2048-d pool features of Inception-v3 on 299×299 RGB (torch-fidelity's resize)."""

    input_channels = 3

    def __init__(self, *, weights: str | None = None, download: bool = False) -> None:
        super().__init__()
        try:
            from torch_fidelity.feature_extractor_inceptionv3 import (
                FeatureExtractorInceptionV3,
            )
        except ImportError as error:
            raise ConfigError(
                "the Inception features need torch-fidelity: pip install torch-fidelity"
            ) from error
        path = find_weights(weights, download=download)
        try:
            load_tensors(path)
        except Exception as error:
            raise ConfigError(
                f"{path} is not an Inception weights file: {error_summary(error)}"
            ) from None
        self.network = FeatureExtractorInceptionV3(
            "inception-v3-compat", ["2048"], feature_extractor_weights_path=str(path)
        )
        self.digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        self.feature_dim = 2048

    def fingerprint(self) -> str:
        return f"InceptionFeatures-{self.digest}"

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        pixels = ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
        (features,) = self.network(pixels)
        return features
