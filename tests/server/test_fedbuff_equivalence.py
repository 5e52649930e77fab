"""Must-hold: FedBuff with buffer_size = clients per round and no stragglers gives FedAvg's global models.

Six identical Pis, 3 a round, FedBuff with concurrency = buffer = 3: every update should come from the newest
version, so FedBuff's versions should be sync FedAvg's, version after version. The stand-in fleet's update does
not depend on which device trains (each moves halfway from its base to one common target, 100 examples), so
only the bases and staleness of the aggregated updates can make the two differ.
It holds because slots freed in an instant are refilled only at the end of that instant
(server.asynchronous.EndOfInstant): before that, the devices whose updates arrived before the buffer filled
restarted from the old version and reached step 2 with staleness 1 (measured: staleness_max [0, 1, 1];
version 1 equal, versions 2 and 3 not).
"""
from __future__ import annotations

import numpy as np
import pytest
from flwr.app import ArrayRecord, Message, MetricRecord, RecordDict

from clients.compression import encode, encoded_bytes
from server.asynchronous import AsyncCoordinator
from server.coordinator import Coordinator
from sim import scenario as scenarios
from sim.world import World
from tests.server.test_coordinator import FakeGrid, _initial, flower_task_identity  # noqa: F401  (autouse fixture)


class Halfway:
    """A ClientApp stand-in whose update depends on its base only: halfway to a common target, 100 examples."""

    def __init__(self):
        self.bases: list[tuple[int, list[np.ndarray]]] = []

    def train(self, strategy, server_round, devices, arrays, config):
        from flwr.app import ConfigRecord

        replies = {}
        for msg in strategy.configure_train(server_round, arrays, ConfigRecord(config), FakeGrid([d + 1 for d in devices])):
            dev = msg.metadata.dst_node_id - 1
            base = arrays.to_numpy_ndarrays()
            self.bases.append((dev, base))
            new = [(0.5 * (a + np.arange(a.size).reshape(a.shape))).astype(np.float32) for a in base]
            payload, _ = encode(new, base, "none")
            metrics = MetricRecord({"num-examples": 100, "train-loss": 1.0, "update-bytes": encoded_bytes(payload)})
            replies[dev] = Message(RecordDict({"arrays": ArrayRecord(payload), "metrics": metrics}), reply_to=msg)
        return replies


def _six_pis(**federation) -> World:
    return World(scenarios.parse({
        "name": "six", "seed": 3, "duration": "40min", "policy": {"name": "local"},
        "fleet": [{"profile": "raspberry-pi-4", "count": 6, "link": "wifi",
                   "workload": {"kind": "poisson", "rate": "1/min", "deadline": "1s"}}],
        "models": {"edge": {"hidden": 8}},
        "federation": {"rounds": 3, "first_round_at": "1min", "every": "10min", "clients_per_round": 3,
                       "pretrain": {"rounds": 0}, "round_deadline": "5min", **federation}}, "six"))


def test_fedbuff_with_buffer_equal_to_clients_per_round_gives_fedavgs_models_version_after_version():
    fedavg = _six_pis()
    Coordinator(fedavg, Halfway(), _initial())
    fedavg.run()
    fedbuff = _six_pis(mode="fedbuff", buffer_size=3, concurrency=3)
    coordinator = AsyncCoordinator(fedbuff, Halfway(), _initial())
    fedbuff.run()
    assert [r["staleness_max"] for r in coordinator.rounds] == [0, 0, 0]
    assert sorted(fedbuff.versions) == sorted(fedavg.versions) == [0, 1, 2, 3]
    for v in (1, 2, 3):
        for a, b in zip(fedbuff.versions[v], fedavg.versions[v]):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    # FedAvg of halfway steps, in closed form: x <- 0.5 x + 0.5 i, from x = 0
    index = np.arange(12, dtype=np.float64).reshape(4, 3)
    expected = np.zeros((4, 3))
    for _ in range(3):
        expected = 0.5 * expected + 0.5 * index
    np.testing.assert_allclose(fedavg.versions[3][0], expected, rtol=1e-5)
