"""The policy registry: every policy declares its rule and parameters once; discovery, entry points, `edgefed policies`."""
from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sim import policies
from sim.policies import BasePolicy, Param

ROOT = Path(__file__).resolve().parents[2]
BUILTIN = {"local", "edge", "cloud", "random", "greedy", "greedy-latency", "deadline-energy", "battery-threshold",
           "lyapunov", "linucb", "oracle", "learned", "local-dvfs"}
registry_module = importlib.import_module("sim.policies.registry")  # sim.policies.registry is the function


def test_the_package_holds_every_builtin_policy():
    assert set(registry_module.builtin()) == BUILTIN


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_each_policy_has_a_rule_and_declared_params_whose_defaults_build_it(name):
    entry = policies.registry()[name]
    assert entry.rule and not entry.rule.endswith(" ")
    assert all(isinstance(p, Param) and p.doc for p in entry.params.values())
    defaults = {k: p.default for k, p in entry.params.items()}
    for given in ({}, defaults):
        policy = policies.make_policy(name, given, np.random.default_rng(0))
        assert policy.name == name
        assert all(getattr(policy, k) == v and type(getattr(policy, k)) is type(v) for k, v in defaults.items())


def test_values_are_converted_to_float():
    policy = policies.make_policy("lyapunov", {"V": 2, "phi": True}, np.random.default_rng(0))
    assert (policy.V, policy.phi) == (2.0, 1.0) and type(policy.V) is float


@pytest.mark.parametrize("name, message", [
    ("lyapunov", "policy 'lyapunov' has no parameter 'W', 'x'; allowed: V, energy_budget_j, phi, accuracy_weight"),
    ("random", "policy 'random' has no parameter 'W', 'x'; allowed: p_local, p_edge, p_cloud"),
    ("oracle", "policy 'oracle' takes no parameters, got 'x', 'W'"),
])
def test_an_unknown_parameter_names_the_policy_and_the_allowed_ones(name, message):
    with pytest.raises(ValueError) as info:
        policies.make_policy(name, {"x": 1, "W": 2}, np.random.default_rng(0))
    assert str(info.value) == message


def test_an_entry_point_factory_is_registered_without_a_declaration(install_plugins):
    def always_edge(params, rng):
        """Every request to the edge (a plugin)."""
        return policies.make_policy("edge", {}, rng)

    install_plugins(always_edge=always_edge, local=lambda params, rng: None)
    entry = policies.registry()["always-edge"]
    assert (entry.rule, entry.params) == ("Every request to the edge (a plugin).", None)
    assert policies.make_policy("always-edge", {}, np.random.default_rng(0)).decide(None) == policies.EDGE
    assert policies.registry()["local"] is registry_module.builtin()["local"]  # a plugin cannot replace a built-in


class _Threshold(BasePolicy):
    """Edge above the threshold, else local."""

    params = {"level": Param(0.5, "state of charge above which the device offloads")}

    def decide(self, obs):
        return policies.EDGE if obs.battery_soc > self.level else policies.LOCAL


def test_an_entry_point_class_is_checked_against_its_declaration(install_plugins):
    install_plugins(soc_threshold=_Threshold)
    assert policies.make_policy("soc-threshold", {"level": "0.25"}, np.random.default_rng(0)).level == 0.25
    with pytest.raises(ValueError, match="^policy 'soc-threshold' has no parameter 'lvl'; allowed: level$"):
        policies.make_policy("soc-threshold", {"lvl": 1}, np.random.default_rng(0))
    described = {d["name"]: d for d in policies.describe()}["soc-threshold"]
    assert described["params"] == [{"name": "level", "default": 0.5, "doc": _Threshold.params["level"].doc}]


POLICY_MODULE = '''
from sim.policies.base import EDGE, BasePolicy, Param


class Shared(BasePolicy):
    """A base without a name: not registered."""


class Sticky(Shared):
    """Always the edge."""

    name = "sticky"
    params = {"k": Param(2.0, "unused")}

    def decide(self, obs):
        return EDGE
'''


def test_a_new_module_in_a_policy_package_is_found(tmp_path, monkeypatch):
    package = tmp_path / "more_policies"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "sticky.py").write_text(POLICY_MODULE)
    (package / "_private.py").write_text("raise AssertionError('modules starting with _ are skipped')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    found = registry_module.discover("more_policies")
    assert list(found) == ["sticky"]
    assert (found["sticky"].rule, dict(found["sticky"].params)) == ("Always the edge.", {"k": Param(2.0, "unused")})
    (package / "again.py").write_text(POLICY_MODULE)
    with pytest.raises(ImportError, match="policy 'sticky' is defined twice"):
        registry_module.discover("more_policies")


def test_the_docs_example_policy_is_one_file_that_the_registry_finds(tmp_path, monkeypatch):
    """docs/policies.md "Adding a policy": its snippet, dropped into a package, registers and decides by its rule."""
    page = (ROOT / "docs" / "policies.md").read_text()
    snippet = page.split("# sim/policies/edge_when_slow.py\n", 1)[1].split("```", 1)[0]
    package = tmp_path / "docs_policies"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "edge_when_slow.py").write_text(snippet)
    monkeypatch.syspath_prepend(str(tmp_path))
    entry = registry_module.discover("docs_policies")["edge-when-slow"]
    assert entry.params["factor"].default == 0.5
    policy = entry({"factor": 0.25}, np.random.default_rng(0))
    obs = policies.Observation()
    obs.deadline_s, obs.compute_s = 0.1, (0.03, 0.0, 0.0)  # local estimate of 30 ms against 25 ms allowed
    assert policy.decide(obs) == policies.EDGE
    obs.compute_s = (0.02, 0.0, 0.0)
    assert policy.decide(obs) == policies.LOCAL


def test_edgefed_policies_lists_every_policy_with_its_parameters():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "300"}
    shown = subprocess.run([sys.executable, "-m", "sim.app.cli", "policies"], capture_output=True, text=True, env=env,
                           cwd=ROOT, timeout=120)
    assert shown.returncode == 0, shown.stderr
    rows = {line.split("│")[1].strip() for line in shown.stdout.splitlines() if line.startswith("│")}
    assert BUILTIN <= rows
    for entry in policies.describe():
        assert entry["rule"] in shown.stdout
        for p in entry["params"]:
            default = p["default"] if isinstance(p["default"], str) else format(p["default"], ".4g")
            assert f"{p['name']} = {default}: {p['doc']}" in shown.stdout
