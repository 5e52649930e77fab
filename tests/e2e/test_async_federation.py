"""FedBuff through Flower's simulation engine: buffered steps with staleness, determinism, privacy audit."""
from __future__ import annotations

import numpy as np
import pytest

from sim import scenario as scenarios
from sim.app.runner import run_federated

from test_federation import ALLOWED_METRICS
from test_run import TINY


def _scenario() -> scenarios.Scenario:
    data = {**TINY, "duration": "2h",
            "federation": {**TINY["federation"], "mode": "fedbuff", "rounds": 4, "buffer_size": 2, "concurrency": 3,
                           "staleness": {"kind": "hinge", "a": 1, "b": 0}, "compression": "int8",
                           "pretrain": {"rounds": 1, "clients_per_round": 3}}}
    return scenarios.parse(data, "fedbuff-e2e")


@pytest.fixture(scope="module")
def two_runs():
    return run_federated(_scenario()), run_federated(_scenario())


@pytest.mark.slow
def test_fedbuff_steps_with_staleness_through_flower(two_runs):
    holder = two_runs[0]
    rounds = [r for r in holder["rounds"] if r["phase"] == "deploy"]
    assert [r["model_version"] for r in rounds] == [1, 2, 3, 4] and holder["world"].global_version == 4
    assert all(r["aggregated"] == 2 for r in rounds)
    assert all(0 <= r["staleness_mean"] <= r["staleness_max"] for r in rounds)
    aggregated = [r for r in holder["round_clients"] if r["status"] == "aggregated"]
    assert len(aggregated) == 8 and all(r["staleness"] == r["into_version"] - 1 - r["base_version"] for r in aggregated)
    assert [v["model_version"] for v in holder["versions"] if v["model"] == "edge"] == [0, 1, 2, 3, 4]


@pytest.mark.slow
def test_fedbuff_is_deterministic_and_sends_only_arrays_and_metrics(two_runs):
    first, second = (h["world"].versions for h in two_runs)
    for version in first:
        for a, b in zip(first[version], second[version]):
            np.testing.assert_array_equal(a, b)
    assert two_runs[0]["rounds"] == two_runs[1]["rounds"]
    for reply in (m for m in two_runs[0]["exchanged"] if m.metadata.reply_to_message_id):
        if reply.has_error():
            continue
        assert set(reply.content.array_records) <= {"arrays"} and set(reply.content.config_records) == set()
        assert set(reply.content["metrics"]) <= ALLOWED_METRICS
