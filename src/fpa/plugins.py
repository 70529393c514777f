"""The plugin manager and the name -> factory registry built from it.

Every component (rule, painter, discriminator, refiner, feature extractor, trained model)
reaches fpa through the pluggy hooks in :mod:`fpa.hookspecs`. Plugins are found through the
entry-point group ``fpa``; fpa's own built-ins are listed in that group too, so they load
exactly like a third party's. A plugin that fails to import is recorded as broken and the
others still load.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pluggy

from fpa import hookspecs
from fpa._version import __version__
from fpa.errors import (
    ConfigError,
    PluginConflictError,
    UnknownComponentError,
    closest_name,
    error_summary,
)
from fpa.protocols import Painter, Refiner, RunLogger

if TYPE_CHECKING:  # the base classes live above this module: their packages register here
    from torch import nn

    from fpa.rules.base import LearningRule

hookimpl = pluggy.HookimplMarker("fpa")

# What a plugin may raise while it imports or registers and still only be listed as broken:
# any error, and ``sys.exit()`` too (it would otherwise end every fpa command, ``fpa plugins``
# included, with no word). Ctrl-C (KeyboardInterrupt) is the user's and still interrupts.
PLUGIN_FAILURES: tuple[type[BaseException], ...] = (Exception, SystemExit)

ENTRY_POINT_GROUP = "fpa"
KINDS: tuple[str, ...] = (
    "rules",
    "painters",
    "discriminators",
    "refiners",
    "features",
    "baselines",
    "loggers",
    "models",
)
BUILTIN_PLUGINS: dict[str, str] = {
    "rules": "fpa.rules",
    "painters": "fpa.painters",
    "discriminators": "fpa.discriminators",
    "refiners": "fpa.refiners",
    "features": "fpa.features",
    "baselines": "fpa.baselines",
    "loggers": "fpa.loggers",
    "models": "fpa.models.shipped",
}


@dataclass(frozen=True)
class Origin:
    """Where a plugin came from: its distribution (package) and version, if installed."""

    distribution: str | None
    version: str | None

    def __str__(self) -> str:
        if self.distribution is None:
            return "registered at runtime"
        return f"{self.distribution} {self.version}" if self.version else self.distribution


RUNTIME = Origin(distribution=None, version=None)


@dataclass(frozen=True)
class Component:
    """One registered component: a name in a kind, the factory that builds it, its origin."""

    kind: str
    name: str
    factory: Callable[..., Any]
    description: str
    plugin: str
    origin: Origin


@dataclass(frozen=True)
class BrokenPlugin:
    """A plugin that could not be loaded or whose hook raised; shown by ``fpa plugins``."""

    plugin: str
    origin: Origin
    error: str


@dataclass
class Registry:
    """A snapshot of every component the current plugins register."""

    components: dict[str, dict[str, Component]] = field(
        default_factory=lambda: {kind: {} for kind in KINDS}
    )
    broken: list[BrokenPlugin] = field(default_factory=list)
    hooks: dict[str, list[str]] = field(default_factory=dict)

    def get(self, kind: str, name: str) -> Component:
        table = self.components[check_kind(kind)]
        if name in table:
            return table[name]
        known = sorted(table)
        raise UnknownComponentError(kind, name, known, closest_name(name, known, cutoff=0.5))


class _Loader:
    """Owns the one plugin manager and remembers each plugin's origin and load failures."""

    def __init__(self) -> None:
        self.manager: pluggy.PluginManager | None = None
        self.origins: dict[str, Origin] = {}
        self.load_failures: list[BrokenPlugin] = []

    def get(self) -> pluggy.PluginManager:
        if self.manager is None:
            manager = pluggy.PluginManager("fpa")
            manager.add_hookspecs(hookspecs)
            self.manager = manager
            self._load_entry_points(manager)
        return self.manager

    def _load_entry_points(self, manager: pluggy.PluginManager) -> None:
        seen: set[tuple[str, str]] = set()
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = entry_point.dist
            origin = Origin(dist.name, dist.version) if dist is not None else RUNTIME
            key = (origin.distribution or "", entry_point.name)
            if key in seen:
                continue
            seen.add(key)
            plugin_name = _unique_name(manager, entry_point.name, origin)
            try:
                plugin = entry_point.load()
                if manager.is_registered(plugin):
                    continue
                manager.register(plugin, name=plugin_name)
            except PLUGIN_FAILURES as error:
                self.load_failures.append(BrokenPlugin(plugin_name, origin, _describe(error)))
                continue
            self.origins[plugin_name] = origin
        # A source checkout used without installing has no entry points: load the built-ins
        # directly so that fpa still works (pip install -e . lists them as entry points).
        if not any(distribution == "fpa" for distribution, _ in seen):
            for name, module_name in BUILTIN_PLUGINS.items():
                origin = Origin("fpa", __version__)
                try:
                    module = importlib.import_module(module_name)
                except PLUGIN_FAILURES as error:
                    self.load_failures.append(BrokenPlugin(name, origin, _describe(error)))
                    continue
                if not manager.is_registered(module):
                    plugin_name = _unique_name(manager, name, origin)
                    manager.register(module, name=plugin_name)
                    self.origins[plugin_name] = origin


def _unique_name(manager: pluggy.PluginManager, name: str, origin: Origin) -> str:
    if manager.get_plugin(name) is None and not manager.is_blocked(name):
        return name
    return f"{origin.distribution or 'runtime'}:{name}"


def _describe(error: BaseException) -> str:
    if isinstance(error, SystemExit):
        return f"SystemExit: the plugin called sys.exit({error.code!r})"
    # Every line, joined: a plugin's own message (pluggy's names the hook and the argument on
    # its later lines) is what its author needs, and ``fpa plugins`` shows one row per plugin.
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {'; '.join(lines)}"


_LOADER = _Loader()


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, with every entry-point plugin loaded.

    Tests and notebooks may ``register`` and ``unregister`` plugin objects on it directly;
    the registry is rebuilt from the manager on every lookup, so changes apply at once.
    """
    return _LOADER.get()


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ConfigError(f"unknown component kind {kind!r} (kinds: {', '.join(KINDS)})")
    return kind


def registry() -> Registry:
    """Collect every component that the registered plugins provide, through their hooks."""
    manager = get_plugin_manager()
    result = Registry(broken=list(_LOADER.load_failures))
    failed: set[str] = set()
    for kind in KINDS:
        caller = getattr(manager.hook, f"fpa_register_{kind}")
        for impl in reversed(caller.get_hookimpls()):
            plugin_name = impl.plugin_name
            origin = _LOADER.origins.get(plugin_name, RUNTIME)
            staged: list[Component] = []

            def register(
                name: str,
                factory: Callable[..., Any],
                *,
                description: str = "",
                _kind: str = kind,
                _staged: list[Component] = staged,
                _plugin: str = plugin_name,
                _origin: Origin = origin,
            ) -> None:
                _staged.append(
                    Component(
                        kind=_kind,
                        name=name,
                        factory=factory,
                        description=description or _first_line(factory.__doc__),
                        plugin=_plugin,
                        origin=_origin,
                    )
                )

            try:
                impl.function(register)
            except PLUGIN_FAILURES as error:
                if plugin_name not in failed:
                    failed.add(plugin_name)
                    result.broken.append(BrokenPlugin(plugin_name, origin, _describe(error)))
                continue
            _merge(result.components[kind], staged)
            result.hooks.setdefault(plugin_name, []).append(f"fpa_register_{kind}")
    return result


def _merge(table: dict[str, Component], staged: list[Component]) -> None:
    for component in staged:
        other = table.get(component.name)
        if other is not None:
            raise PluginConflictError(
                f"{component.kind[:-1]} {component.name!r} is registered twice: by plugin "
                f"{other.plugin!r} ({other.origin}) and by plugin {component.plugin!r} "
                f"({component.origin}); uninstall or rename one of them"
            )
        table[component.name] = component


def _first_line(text: str | None) -> str:
    return text.strip().splitlines()[0].strip() if text and text.strip() else ""


def available(kind: str) -> list[str]:
    """Sorted names of every registered component of one kind."""
    return sorted(registry().components[check_kind(kind)])


def build(kind: str, name: str, **options: Any) -> Any:
    """Build the component ``name`` of ``kind`` with keyword options passed to its factory."""
    component = registry().get(kind, name)
    check_options(component, options)
    try:
        return component.factory(**options)
    except (ValueError, TypeError) as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(
            f"{kind[:-1]} {name!r} cannot be built: {error_summary(error)}"
        ) from error


def takes_options(kind: str, name: str, options: dict[str, Any]) -> bool:
    """Whether the component ``name`` of ``kind`` can be built with ``options``; True for a
    name that is not registered, whose error belongs to building it."""
    component = registry().components[check_kind(kind)].get(name)
    signature = factory_signature(component) if component else None
    if signature is None:
        return True
    try:
        signature.bind_partial(**options)
    except TypeError:
        return False
    return True


def factory_signature(component: Component) -> inspect.Signature | None:
    """The factory's signature, or None where Python cannot read one (its options go
    unchecked until the call)."""
    try:
        return inspect.signature(component.factory)
    except (TypeError, ValueError):
        return None


def check_options(component: Component, options: dict[str, Any]) -> None:
    """Refuse options the factory does not take, naming the ones it does."""
    signature = factory_signature(component)
    if signature is None:
        return
    try:
        signature.bind(**options)
    except TypeError as error:
        accepted = [
            parameter.name
            for parameter in signature.parameters.values()
            if parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD)
        ]
        raise ConfigError(
            f"{component.kind[:-1]} {component.name!r} cannot be built with these options: "
            f"{error_summary(error)} (it takes: {', '.join(accepted) or 'no options'})"
        ) from error


def build_rule(name: str, **options: Any) -> LearningRule:
    """Build a learning rule by name, e.g. ``build_rule("delta", first_step_unit_rate=True)``."""
    return build("rules", name, **options)


def build_painter(name: str, **options: Any) -> Painter:
    """Build a painter (controller) by name."""
    return build("painters", name, **options)


def build_discriminator(name: str, **options: Any) -> nn.Module:
    """Build a discriminator by name: a module whose call on images returns a
    :class:`~fpa.discriminators.output.DiscriminatorOutput` (docs/design.md §4)."""
    return build("discriminators", name, **options)


def build_refiner(name: str, **options: Any) -> Refiner:
    """Build a refiner by name."""
    return build("refiners", name, **options)


def build_logger(name: str, **options: Any) -> RunLogger:
    """Build a run logger by name (``build_logger("tensorboard", folder=..., config=...,
    step=0)``); the JSONL log is not one: every run writes it."""
    return build("loggers", name, **options)
