"""Feature extractors for FID/KID: images in [-1, 1] -> feature vectors.

``digits``, ``emoji`` and ``icons`` are small convolutional nets trained on fpa's built-in
data and shipped inside the package, so quality can be measured offline (``icons`` is the
default for nothing: a second, independent check on the colour sets); ``inception`` is the
standard Inception-v3 of FID (torch-fidelity's port), whose weights file must be present. Each
extractor names the datasets it is the default for; :func:`default_features` resolves it.
"""

from fpa.features.base import FeatureExtractor, build_features, default_features
from fpa.features.inception import InceptionFeatures
from fpa.features.offline import DigitFeatures, EmojiFeatures, IconFeatures
from fpa.plugins import hookimpl

__all__ = [
    "DigitFeatures",
    "EmojiFeatures",
    "FeatureExtractor",
    "IconFeatures",
    "InceptionFeatures",
    "build_features",
    "default_features",
]


@hookimpl
def fpa_register_features(register):
    register("digits", DigitFeatures, description="Offline digit classifier (grey, 32×32)")
    register("emoji", EmojiFeatures, description="Offline emoji-identity net (colour, 32×32)")
    register(
        "icons",
        IconFeatures,
        description="Offline icon/emoji-identity net (colour, 32×32), an independent check",
    )
    register("inception", InceptionFeatures, description="Inception-v3 pool features (FID)")
