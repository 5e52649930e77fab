"""Shared fixtures of the engine tests."""
from __future__ import annotations

import importlib.metadata
import sys
import types

import pytest


@pytest.fixture
def install_plugins(monkeypatch):
    """install_plugins(name=obj, ...): each obj loadable as an `edgefed.policies` entry point (dashes for _)."""

    def install(**objects) -> None:
        module = types.ModuleType("tests_policy_plugin")
        points = []
        for name, obj in objects.items():
            setattr(module, name, obj)
            points.append(importlib.metadata.EntryPoint(name=name.replace("_", "-"),
                                                        value=f"tests_policy_plugin:{name}", group="edgefed.policies"))
        monkeypatch.setitem(sys.modules, "tests_policy_plugin", module)
        real = importlib.metadata.entry_points
        monkeypatch.setattr(importlib.metadata, "entry_points",
                            lambda **kw: points if kw.get("group") == "edgefed.policies" else real(**kw))

    return install
