"""The hooks a plugin implements to add components to fpa.

Each hook receives a ``register(name, factory, *, description="")`` callback. A factory is
any callable that takes keyword options and returns the component (usually its class).
"""

import pluggy

hookspec = pluggy.HookspecMarker("fpa")


@hookspec
def fpa_register_rules(register):
    """Register learning rules: factories returning a :class:`fpa.LearningRule`."""


@hookspec
def fpa_register_painters(register):
    """Register painters: factories ``(*, latent_dim, steps, **options)`` returning a module
    that maps ``z (B, latent_dim)`` to features ``(B, steps, out_features)``."""


@hookspec
def fpa_register_discriminators(register):
    """Register discriminators: factories ``(*, image_size, channels, **options)``."""


@hookspec
def fpa_register_refiners(register):
    """Register refiners: factories ``(*, image_size, channels, **options)`` returning a module
    that maps images ``(B, C, H, W)`` to refined images of the same shape."""


@hookspec
def fpa_register_features(register):
    """Register feature extractors for FID/KID: factories ``(**options)`` returning a
    :class:`fpa.features.FeatureExtractor` (images in [-1, 1] to feature vectors)."""


@hookspec
def fpa_register_baselines(register):
    """Register conventional (non-painter) generators to compare painters with: factories
    ``(*, latent_dim, image_size, channels, **options)`` returning a module that maps
    ``z (B, latent_dim)`` to images ``(B, channels, H, W)`` in [-1, 1]."""


@hookspec
def fpa_register_loggers(register):
    """Register run loggers (TensorBoard, W&B, ...): factories ``(*, folder, config, step)``
    returning a :class:`fpa.protocols.RunLogger` (docs/design.md §8)."""


@hookspec
def fpa_register_models(register):
    """Register trained models: factories ``()`` returning the path of a model folder
    (``config.json``, ``model.safetensors``, ``README.md``; docs/design.md §9), so that
    ``fpa.load(name)`` and ``fpa sample NAME`` find it by name, offline."""
