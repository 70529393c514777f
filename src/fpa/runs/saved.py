"""The one generator loader: what fpa's two saved forms of a generator share, a run's
checkpoint (:mod:`fpa.runs.checkpoint`) and a model folder (:mod:`fpa.runs.model_folder`).

Each holds a generator config, the component each of its names came from, and weights. Each
format reads and validates its own file, then hands those three to :class:`SavedGenerator`,
which checks the components are registered here, rebuilds the generator (refusing one that
cannot fit the memory it is built in before a weight is allocated) and loads the weights.
Every failure is one error of the format's own class, naming the file at fault.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fpa._version import __version__
from fpa.baselines.generator import BaselineConfig, BaselineGenerator
from fpa.errors import FpaError, error_summary
from fpa.generator import FastWeightPainter, GeneratorConfig
from fpa.limits import check_generator_memory
from fpa.plugins import registry
from fpa.runs.config import GeneratorModule


@dataclass(frozen=True, kw_only=True)
class SavedGenerator:
    """A generator as a file holds it, and the words its errors use: ``source`` is what was
    opened (a checkpoint, a model folder), ``config_file`` and ``weights_file`` where the config
    and the weights were read, ``config_name`` what the weights must match, ``unusable`` the
    start of a refusal of the config ("x.pt is not a usable fpa checkpoint")."""

    config: dict[str, Any]
    components: dict[str, Any]
    weights: Callable[[], dict[str, torch.Tensor]]  # read only once the config has built
    source: Path
    weights_file: Path
    config_key: str
    config_name: str
    unusable: str
    error: type[FpaError]

    def load(self, *, device: str | torch.device = "cpu") -> GeneratorModule:
        """The generator on ``device``, in eval mode; loading runs no code from the files."""
        check_components(
            self.components, source=self.source, unusable=self.unusable, error=self.error
        )
        try:
            generator = generator_from_config(self.config, device=device)
        except (TypeError, ValueError) as error:  # ConfigError included
            raise self.error(
                f"{self.unusable}: its {self.config_key!r} cannot be built: {error_summary(error)}"
            ) from None
        try:
            generator.load_state_dict(self.weights())
        except (RuntimeError, TypeError, AttributeError) as error:
            raise self.error(
                f"{self.weights_file} does not match {self.config_name}: {error_summary(error)}"
            ) from None
        return generator.to(device).eval()


def generator_from_config(
    data: dict[str, Any], *, device: str | torch.device = "cpu"
) -> GeneratorModule:
    """Rebuild a saved generator from its config: a painter, or a baseline (whose config names
    the registered baseline); one that cannot fit the memory it is built in, or that of
    ``device``, is refused before a weight is allocated."""
    if "baseline" in data:
        baseline = BaselineConfig.from_dict(data)
        check_generator_memory(baseline, lambda: BaselineGenerator(config=baseline), device=device)
        return BaselineGenerator(config=baseline)
    config = GeneratorConfig.from_dict(data)
    check_generator_memory(config, lambda: FastWeightPainter(config=config), device=device)
    return FastWeightPainter(config=config)


def check_components(
    components: dict[str, Any], *, source: Path, unusable: str, error: type[FpaError]
) -> None:
    """Refuse a saved generator whose components are not registered here, naming the
    distribution and version that provided each one, and ways to get it back."""
    current = registry()
    for kind, origin in components.items():
        if not isinstance(origin, dict) or not isinstance(origin.get("name"), str):
            raise error(f"{unusable}: its components entry {kind!r} does not name a component")
        if origin["name"] not in current.components.get(kind, {}):
            raise error(
                f"{source} needs {kind[:-1]} {origin['name']!r}, which is not registered here; "
                + missing_component_hint(origin)
            )


def missing_component_hint(origin: dict[str, Any]) -> str:
    """Where a missing component came from, and how to get it back: the same distribution,
    from wherever it was installed (pip is one way)."""
    distribution, version = origin.get("distribution"), origin.get("version")
    plugin = origin.get("plugin")
    if not distribution:
        return (
            f"it was registered at runtime (plugin {plugin!r}), not installed: register it "
            "again before loading"
        )
    if distribution == "fpa":
        return f"it came with fpa {version or ''}".rstrip() + ": use that fpa version"
    release = f"{distribution} {version}" if version else distribution
    pinned = f"{distribution}=={version}" if version else distribution
    return (
        f"it came from the distribution {release} (plugin {plugin!r}): install that version "
        f"again, e.g. pip install {pinned} from an index, or pip install -e PATH from its "
        "source folder if it is a local package"
    )


def newer_format(path: Path, data: dict[str, Any], readable: int) -> str:
    """Why a file of a newer ``format_version`` than ``readable`` is refused: the version it
    has, the one this fpa reads, and the fpa that wrote it only when that is not this one."""
    written = data.get("fpa_version")
    by = (
        f", written by fpa {written}" if isinstance(written, str) and written != __version__ else ""
    )
    return (
        f"{path} has format_version {data.get('format_version')!r}{by}; this fpa "
        f"({__version__}) reads up to {readable}: upgrade fpa"
    )
