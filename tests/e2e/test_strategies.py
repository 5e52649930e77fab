"""FedAdam and FedYogi end to end through Flower: their server-side step has the size their update rule says."""
from __future__ import annotations

import numpy as np
import pytest

from sim import scenario as scenarios
from sim.app.runner import run_federated

from test_run import TINY

ETA = 0.1


def _run(strategy: str) -> dict:
    data = {**TINY, "duration": "2h",
            "federation": {**TINY["federation"], "strategy": strategy, "server_learning_rate": ETA, "rounds": 2,
                           "every": "40min", "first_round_at": "10min", "clients_per_round": 4,
                           "pretrain": {"rounds": 0}}}
    return run_federated(scenarios.parse(data, f"strategy-{strategy}"))


@pytest.fixture(scope="module")
def runs() -> dict[str, dict]:
    return {name: _run(name) for name in ("fedadam", "fedyogi")}


def _largest_step(run: dict, version: int) -> float:
    versions = run["world"].versions
    return max(float(np.abs(a - b).max()) for a, b in zip(versions[version], versions[version - 1]))


@pytest.mark.slow
def test_every_strategy_aggregates_every_round(runs):
    for name, run in runs.items():
        deploy = [r for r in run["rounds"] if r["phase"] == "deploy"]
        assert [r["aggregated"] for r in deploy] == [4, 4], name
        assert run["world"].global_version == 2 and np.isfinite(run["versions"][-1]["mse"]), name


@pytest.mark.slow
def test_fedadam_first_step_is_bounded_by_its_bias_corrected_rate(runs):
    # round 1: m = (1-b1) d, v = (1-b2) d^2, step = eta_1 * m / (sqrt(v) + tau) with |step| < eta_1,
    # eta_1 = eta * sqrt(1 - b2^2) / (1 - b1^2), Flower's defaults b1 = 0.9, b2 = 0.99, tau = 1e-3
    eta_1 = ETA * np.sqrt(1 - 0.99 ** 2) / (1 - 0.9 ** 2)
    step = _largest_step(runs["fedadam"], 1)
    assert 0.5 * eta_1 < step <= eta_1 * (1 + 1e-6), (step, eta_1)


@pytest.mark.slow
def test_fedyogi_first_step_is_bounded_by_eta(runs):
    # round 1: v = (1-b2) d^2 (v starts at 0), so |step| = eta * 0.1|d| / (0.1|d| + tau) < eta
    step = _largest_step(runs["fedyogi"], 1)
    assert 0.5 * ETA < step <= ETA * (1 + 1e-6), step


@pytest.mark.slow
def test_the_two_server_optimisers_take_different_steps_from_the_same_updates(runs):
    # same seed, same selected devices, same client updates in round 1: only the server rule differs
    adam, yogi = (runs[n]["world"].versions[1] for n in ("fedadam", "fedyogi"))
    assert any(not np.allclose(a, b, atol=1e-6) for a, b in zip(adam, yogi))
    assert runs["fedadam"]["round_clients"][:4] == runs["fedyogi"]["round_clients"][:4]
