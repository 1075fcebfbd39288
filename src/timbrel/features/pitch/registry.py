"""Pitch methods by name.

Each entry maps a name to the "module:callable" that builds its extractor; the module is imported
only when that method is asked for, so listing names costs nothing and a method whose optional
dependency is missing fails only when used. Add a method with one ``register`` line below.
Methods with a network take it as an argument (``create("rmvpe", network=...)``); loading the
weights is ``timbrel.weights``' job.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from timbrel.core.errors import ConfigError
from timbrel.features.pitch.base import PitchExtractor

_FACTORIES: dict[str, str] = {}


def register(name: str, target: str) -> None:
    """name: the method's user-facing name; target: "package.module:callable" -> extractor."""
    if name in _FACTORIES and _FACTORIES[name] != target:
        raise ConfigError(f"pitch method {name!r} is already registered to {_FACTORIES[name]}")
    _FACTORIES[name] = target


def method_names() -> tuple[str, ...]:
    return tuple(_FACTORIES)


def _factory(name: str):
    if name not in _FACTORIES:
        raise ConfigError(f"unknown pitch method {name!r}; choose one of {list(_FACTORIES)}")
    module_name, attribute = _FACTORIES[name].split(":")
    return getattr(importlib.import_module(module_name), attribute)


def create(name: str, **options: Any) -> PitchExtractor:
    """The extractor for ``name`` built with ``options`` (its factory's keyword arguments)."""
    factory = _factory(name)
    parameters = inspect.signature(factory).parameters
    needed = [
        p.name
        for p in parameters.values()
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and p.name not in options
    ]
    if needed:
        raise ConfigError(f"pitch method {name!r} needs {needed}")
    unknown = sorted(set(options) - set(parameters))
    if unknown:
        raise ConfigError(f"pitch method {name!r} takes no {unknown}; it takes {list(parameters)}")
    return factory(**options)


register("pm", "timbrel.features.pitch.pm:PmExtractor")
register("harvest", "timbrel.features.pitch.world:harvest_extractor")
register("dio", "timbrel.features.pitch.world:dio_extractor")
register("rmvpe", "timbrel.features.pitch.rmvpe:RmvpeExtractor")
register("crepe-full", "timbrel.features.pitch.crepe:CrepeExtractor")
register("crepe-tiny", "timbrel.features.pitch.crepe:CrepeExtractor")
register("fcpe", "timbrel.features.pitch.fcpe:FcpeExtractor")
register("hybrid", "timbrel.features.pitch.hybrid:HybridExtractor")
