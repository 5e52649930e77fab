"""Which policies exist: the classes in this package's modules, plus the `edgefed.policies` entry points.

Discovery walks the package with pkgutil, which lists modules in sorted file-name order, so the
registry is the same on every machine; a new built-in policy is one new module and nothing else.
"""
from __future__ import annotations

import functools
import importlib
import pkgutil
from dataclasses import dataclass
from importlib import metadata  # called as metadata.entry_points so tests can substitute it
from typing import Any, Callable, Mapping

import numpy as np

from sim.policies.base import BasePolicy, Param, Policy

ENTRY_POINT_GROUP = "edgefed.policies"
PolicyFactory = Callable[[dict[str, Any], np.random.Generator], Policy]


@dataclass(frozen=True)
class Entry:
    """One registered policy; calling it builds an instance, as the bare factories of old did."""

    name: str
    rule: str
    params: Mapping[str, Param] | None  # None: a third-party factory that declares nothing
    factory: PolicyFactory

    def __call__(self, params: dict[str, Any], rng: np.random.Generator) -> Policy:
        return self.factory(params, rng)


def check_params(name: str, declared: Mapping[str, Param], given: Mapping[str, Any]) -> None:
    """ValueError naming the policy and its parameters when `given` has a name `declared` lacks."""
    if given and not declared:
        raise ValueError(f"policy {name!r} takes no parameters, got {', '.join(map(repr, given))}")
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ValueError(f"policy {name!r} has no parameter {', '.join(map(repr, unknown))}; allowed: "
                         f"{', '.join(declared)}")


def from_class(cls: type, name: str | None = None) -> Entry:
    """The entry of a class that declares `params` and is built as cls(rng, **params)."""
    name = name or cls.name

    def factory(params: dict[str, Any], rng: np.random.Generator) -> Policy:
        check_params(name, cls.params, params)
        return cls(rng, **{k: cls.params[k].coerce(v) for k, v in params.items()})

    return Entry(name, _first_line(cls.__doc__), dict(cls.params), factory)


def from_plugin(name: str, loaded: Any) -> Entry:
    """An entry point's object: a class with a `params` declaration, or a factory (params, rng) -> Policy."""
    if isinstance(loaded, type) and isinstance(getattr(loaded, "params", None), Mapping):
        return from_class(loaded, name)
    return Entry(name, _first_line(getattr(loaded, "__doc__", None)), None,
                 lambda params, rng: loaded(dict(params), rng))


def discover(package: str) -> dict[str, Entry]:
    """Every BasePolicy subclass with a `name`, defined in a module of PACKAGE (modules starting with _ skipped)."""
    found: dict[str, Entry] = {}
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        for cls in vars(module).values():
            if not (isinstance(cls, type) and issubclass(cls, BasePolicy) and cls.__module__ == module.__name__
                    and cls.name):
                continue  # imported names, shared bases and helpers
            if cls.name in found:
                raise ImportError(f"policy {cls.name!r} is defined twice in {package} (second: {module.__name__})")
            found[cls.name] = from_class(cls)
    return found


@functools.cache
def builtin() -> dict[str, Entry]:
    """The policies of this package; built once (their modules do not change while the process runs)."""
    return discover(__package__)


def registry() -> dict[str, Entry]:
    """Built-in policies plus those installed under the `edgefed.policies` entry-point group (built-ins win)."""
    found = dict(builtin())
    for point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if point.name not in found:
            found[point.name] = from_plugin(point.name, point.load())
    return found


def make_policy(name: str, params: dict[str, Any], rng: np.random.Generator) -> Policy:
    policies = registry()
    if name not in policies:
        raise ValueError(f"unknown policy {name!r}; allowed: {', '.join(sorted(policies))}")
    return policies[name](dict(params), rng)


def describe() -> list[dict[str, Any]]:
    """Per policy, by name: its rule and its parameters with defaults and descriptions (None: undeclared)."""
    return [{"name": e.name, "rule": e.rule,
             "params": None if e.params is None else
             [{"name": k, "default": p.default, "doc": p.doc} for k, p in e.params.items()]}
            for e in sorted(registry().values(), key=lambda e: e.name)]


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().split("\n", 1)[0]
