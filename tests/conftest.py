"""Shared test settings: hypothesis profiles and a helper to plug components in for a test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings
from PIL import Image

import fpa
from rule_fixtures import ThrowawayRules

settings.register_profile(
    "default",
    deadline=None,
    max_examples=int(os.environ.get("FPA_HYPOTHESIS_EXAMPLES", "25")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("default")

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@contextmanager
def plugged_in(plugin: object, name: str) -> Iterator[None]:
    """Register a plugin object on fpa's manager for the duration of a block."""
    manager = fpa.get_plugin_manager()
    manager.register(plugin, name=name)
    try:
        yield
    finally:
        manager.unregister(plugin)


def own_names(kind: str) -> list[str]:
    """The components of ``kind`` fpa itself provides, whatever else is installed."""
    components = fpa.registry().components[kind]
    return [name for name in fpa.available(kind) if components[name].origin.distribution == "fpa"]


def absent_name(kind: str, stem: str) -> str:
    """A name like ``stem`` that no installed or registered plugin gives a component of ``kind``."""
    taken, name, number = set(fpa.available(kind)), stem, 1
    while name in taken:
        name, number = f"{stem}-{number}", number + 1
    return name


@pytest.fixture(params=["alone", "beside-a-plugin"])
def third_party_rules(request) -> Iterator[None]:
    """Runs a test twice: with fpa's rules alone, then with a throwaway rule plugin registered,
    as a user's own (docs/plugins.md's ``my-rule``) would be once installed."""
    if request.param == "alone":
        yield
        return
    names = absent_name("rules", "my-rule"), absent_name("rules", "ella")
    with plugged_in(ThrowawayRules(*names), name="throwaway-rules"):
        yield


def image_folder(path, count: int, *, colour: bool) -> str:
    """A folder of ``count`` random 8×8 PNGs, in colour or grey (R = G = B)."""
    path.mkdir()
    generator = np.random.default_rng(0)
    for index in range(count):
        pixels = generator.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
        if not colour:
            pixels[..., 1] = pixels[..., 2] = pixels[..., 0]
        Image.fromarray(pixels).save(path / f"{index:03d}.png")
    return str(path)
