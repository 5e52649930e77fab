"""Federation through Flower's simulation engine: privacy audit, faults, deterministic aggregation."""
from __future__ import annotations

import numpy as np
import pytest

from sim import scenario as scenarios
from sim.app.runner import run_federated

from test_run import TINY

ALLOWED_METRICS = {"partition-id", "num-examples", "train-loss", "update-bytes", "errors", "baseline-errors"}


def _scenario() -> scenarios.Scenario:
    data = {**TINY, "duration": "2h",
            "fleet": [{**g, "count": 4} for g in TINY["fleet"]],
            "federation": {**TINY["federation"], "rounds": 3, "every": "30min", "clients_per_round": 5,
                           "strategy": "fedprox", "proximal_mu": 0.1, "compression": "int8", "fault_rate": 0.3,
                           "pretrain": {"rounds": 1, "clients_per_round": 4}}}
    return scenarios.parse(data, "federation-e2e")


@pytest.fixture(scope="module")
def two_runs():
    return run_federated(_scenario()), run_federated(_scenario())


@pytest.mark.slow
def test_only_model_arrays_and_metrics_leave_a_device(two_runs):
    holder = two_runs[0]
    shapes = [a.shape for a in holder["world"].versions[0]]
    replies = [m for m in holder["exchanged"] if m.metadata.reply_to_message_id]
    assert len(replies) >= 10
    coded = 0
    for reply in replies:
        if reply.has_error():
            continue
        content = reply.content
        assert set(content.config_records) == set()
        assert set(content.array_records) <= {"arrays"}
        assert set(content.metric_records) == {"metrics"}
        assert set(content["metrics"]) <= ALLOWED_METRICS, set(content["metrics"])
        if "arrays" not in content.array_records:
            continue
        arrays = content["arrays"].to_numpy_ndarrays()
        if arrays[0].dtype == np.int8:  # an int8-coded update: one int8 tensor + one scale per parameter
            coded += 1
            assert [a.shape for a in arrays[0::2]] == shapes
            assert all(a.dtype == np.int8 for a in arrays[0::2]) and all(a.shape == (1,) for a in arrays[1::2])
        else:  # pretraining sends plain weights: exactly the model's parameter tensors
            assert [a.shape for a in arrays] == shapes
    assert coded >= 3


@pytest.mark.slow
def test_rounds_complete_when_client_apps_raise(two_runs):
    rounds = [r for r in two_runs[0]["rounds"] if r["phase"] == "deploy"]
    assert len(rounds) == 3
    assert sum(r["failed"] for r in rounds) >= 1  # fault injection really fired
    assert all(r["aggregated"] >= 1 for r in rounds)
    assert two_runs[0]["world"].global_version == 3


@pytest.mark.slow
def test_aggregation_is_deterministic(two_runs):
    first, second = (h["world"].versions for h in two_runs)
    assert first.keys() == second.keys() == {0, 1, 2, 3}
    for version in first:
        for a, b in zip(first[version], second[version]):
            np.testing.assert_array_equal(a, b)
    assert two_runs[0]["rounds"] == two_runs[1]["rounds"]
