"""edgefed/Offload-v0's return with a fixed policy is minus the cost `edgefed run` writes to summary.json."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

pytest.importorskip("gymnasium")

from typer.testing import CliRunner  # noqa: E402

from sim.app.cli import app  # noqa: E402
from sim.envs.offload import OffloadEnv  # noqa: E402
from sim.policies.registry import make_policy  # noqa: E402

# federation off and no pretraining: `edgefed run` then needs neither Flower nor Ray
SMALL = {
    "name": "gym-cost", "seed": 5, "duration": "20s", "policy": {"name": "edge"},
    "fleet": [
        {"profile": "raspberry-pi-4", "count": 4, "link": "wifi",
         "workload": {"kind": "poisson", "rate": "5/s", "deadline": "100ms"}},
        {"profile": "smartphone", "count": 3, "link": "lte",
         "workload": {"kind": "poisson", "rate": "2/s", "deadline": "250ms"}},
    ],
    "edge": {"cores": 1},
    "models": {"edge": {"hidden": 8}},
    "federation": {"enabled": False, "pretrain": {"rounds": 0}},
}

SITES = {
    "name": "gym-cost-sites", "seed": 8, "duration": "20s", "policy": {"name": "edge", "params": {"site": 1}},
    "sites": [
        {"name": "a", "position": [0, 0], "server": {"cores": 1, "speed": 1.0e+8},
         "cells": [{"name": "a-5g", "link": "5g", "radius": 800}]},
        {"name": "b", "position": [3000, 0], "server": {"cores": 8}, "cells": [{"name": "b-lte", "link": "lte",
                                                                                "radius": 2000}]},
    ],
    "metro": [{"between": ["a", "b"], "bandwidth": "1Gbps", "rtt": "2ms"}],
    "fleet": [
        {"profile": "smartphone", "count": 6, "link": "5g", "site": "a",
         "workload": {"kind": "poisson", "rate": "3/s", "deadline": "100ms"}},
        {"profile": "smartphone", "count": 2, "link": "lte", "site": "b",
         "workload": {"kind": "poisson", "rate": "1/s", "deadline": "150ms"}},
    ],
    "models": {"edge": {"hidden": 8}},
    "federation": {"enabled": False, "pretrain": {"rounds": 0}},
}


def env_return(path, seed: int, name: str, params: dict) -> tuple[float, int, set[int]]:
    """The return of one episode in which every action is what the scenario's own policy decides."""
    env = OffloadEnv(path)
    policy = make_policy(name, params, np.random.default_rng(0))
    env.reset(seed=seed)
    total, steps, actions, done = 0.0, 0, set(), False
    while not done:
        action = policy.decide(env.decision)
        actions.add(action)
        _, reward, done, _, _ = env.step(action)
        total += reward
        steps += 1
    return total, steps, actions


def run_cost(path, seed: int, out) -> dict:
    result = CliRunner().invoke(app, ["run", str(path), "--seed", str(seed), "--out", str(out), "--no-plots"])
    assert result.exit_code == 0, result.output
    return json.loads((out / "summary.json").read_text())


@pytest.mark.slow  # two runs through the CLI, forecasts scored with torch: about 10 s each
@pytest.mark.parametrize("spec", [SMALL, SITES], ids=["one-site", "two-sites"])
def test_the_env_return_with_the_runs_policy_is_minus_the_cost_edgefed_run_reports(spec, tmp_path):
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(spec))
    summary = run_cost(path, 3, tmp_path / "run")
    total, steps, actions = env_return(path, 3, spec["policy"]["name"], spec["policy"].get("params", {}))
    assert steps == summary["requests"] > 300
    # per request the same float64 terms of the same float32 columns; only the order of summation differs
    assert -total == pytest.approx(summary["cost"], rel=1e-12)
    assert summary["cost"] > 50.0  # mostly LTE radio tails and the 1-core edge's misses
    # every request to the own edge, or to site 1 of two (action 3 + 1): the site actions are what ran
    assert actions == ({4} if spec is SITES else {1})
