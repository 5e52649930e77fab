"""Round coordination in simulated time, with a stand-in fleet (no Ray): deadlines, selection, codecs."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from flwr.app import ArrayRecord, Message, MetricRecord, RecordDict

from clients.compression import decode, encode, encoded_bytes
from server.coordinator import Coordinator
from sim import scenario as scenarios
from sim.world import World

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def flower_task_identity(monkeypatch):
    """Messages need a run id; Flower sets it inside a real ServerApp."""
    from flwr.supercore.task_identity import TaskIdentity

    monkeypatch.setattr(TaskIdentity, "_run_id", 1)
    monkeypatch.setattr(TaskIdentity, "_node_id", 1)
    monkeypatch.setattr(TaskIdentity, "_task_id", 1)


class FakeGrid:
    def __init__(self, nodes):
        self.nodes = nodes

    def get_node_ids(self):
        return list(self.nodes)


class StandInFleet:
    """Answers TRAIN messages like a ClientApp would: weights + 0.1 * (device + 1), 500 examples."""

    def __init__(self, fail: set[int] = frozenset(), examples: int = 500):
        self.fail, self.examples = fail, examples
        self.calls: list[tuple[int, list[int]]] = []

    def train(self, strategy, server_round, devices, arrays, config):
        self.calls.append((server_round, list(devices)))
        messages = list(strategy.configure_train(server_round, arrays, __import__("flwr.app").app.ConfigRecord(config),
                                                 FakeGrid([d + 1 for d in devices])))
        replies = {}
        for msg in messages:
            dev = msg.metadata.dst_node_id - 1
            if dev in self.fail:
                continue
            new = [a + 0.1 * (dev + 1) for a in arrays.to_numpy_ndarrays()]
            payload, _ = encode(new, arrays.to_numpy_ndarrays(), config.get("compression", "none"))
            metrics = MetricRecord({"num-examples": self.examples, "train-loss": 1.0,
                                    "update-bytes": encoded_bytes(payload)})
            replies[dev] = Message(RecordDict({"arrays": ArrayRecord(payload), "metrics": metrics}), reply_to=msg)
        return replies


def _world(**federation) -> World:
    fed = {"rounds": 2, "first_round_at": "1min", "every": "10min", "clients_per_round": 3,
           "pretrain": {"rounds": 0}, "round_deadline": "5min"}
    fed.update(federation)
    return World(scenarios.parse({
        "name": "coord", "seed": 3, "duration": "30min", "policy": {"name": "local"},
        "fleet": [{"profile": "raspberry-pi-4", "count": 4, "link": "wifi",
                   "workload": {"kind": "poisson", "rate": "1/min", "deadline": "1s"}},
                  {"profile": "smartphone", "count": 2, "link": "lte",
                   "workload": {"kind": "poisson", "rate": "1/min", "deadline": "1s"}}],
        "models": {"edge": {"hidden": 8}},
        "federation": fed}, "coord"))


def _initial():
    return [np.zeros((4, 3), np.float32), np.zeros(4, np.float32)]


def test_updates_that_beat_the_deadline_are_averaged():
    world = _world()
    fleet = StandInFleet()
    coordinator = Coordinator(world, fleet, _initial())
    world.run()
    assert [r["aggregated"] for r in coordinator.rounds] == [3, 3]
    chosen = fleet.calls[0][1]
    expected = 0.1 * np.mean([d + 1 for d in chosen])  # equal example counts: plain mean
    np.testing.assert_allclose(world.versions[1][0], expected, rtol=1e-6)
    assert world.global_version == 2 and max(world.fleet.model_version) == 2


def test_a_round_whose_updates_trained_on_nothing_keeps_the_model_in_pretraining_and_deployment():
    # devices with no valid window answer 0 examples: FedAvg's weights would divide by zero
    from server.coordinator import pretrain

    world = _world()
    fed = world.scenario.federation.model_copy(update={"pretrain": world.scenario.federation.pretrain.model_copy(
        update={"rounds": 2, "clients_per_round": 3})})
    arrays, rows = pretrain(StandInFleet(examples=0), 6, _initial(), fed, np.random.default_rng(0))
    assert [r["aggregated"] for r in rows] == [3, 3]
    for a, b in zip(arrays, _initial()):
        np.testing.assert_array_equal(a, b)
    coordinator = Coordinator(world, StandInFleet(examples=0), _initial())
    world.run()
    assert len(coordinator.rounds) == 2 and world.global_version == 0


def test_an_upload_after_the_simulated_deadline_is_not_aggregated():
    # training 500 samples of an h=8 LSTM takes ~50 ms on a Pi: a 10 ms deadline cannot be met
    world = _world(round_deadline="10ms")
    coordinator = Coordinator(world, StandInFleet(), _initial())
    world.run()
    assert [r["aggregated"] for r in coordinator.rounds] == [0, 0]
    assert all(r["status"] == "straggler" for r in coordinator.round_clients)
    assert all(r["upload_end_s"] > r["deadline_s"] for r in coordinator.round_clients)
    assert world.global_version == 0


def test_failed_clients_drop_out_and_the_round_completes():
    world = _world(clients_per_round=6)
    coordinator = Coordinator(world, StandInFleet(fail={0, 4}), _initial())
    world.run()
    assert [(r["aggregated"], r["failed"]) for r in coordinator.rounds] == [(4, 2), (4, 2)]


def test_fastest_k_overcommits_and_keeps_the_first_k():
    world = _world(selection="fastest-k", clients_per_round=2, overcommit=2.0)
    coordinator = Coordinator(world, StandInFleet(), _initial())
    world.run()
    first = [r for r in coordinator.round_clients if r["round"] == 1]
    assert len(first) == 4 and sum(r["status"] == "aggregated" for r in first) == 2
    kept = max(r["upload_end_s"] for r in first if r["status"] == "aggregated")
    assert all(r["upload_end_s"] >= kept for r in first if r["status"] == "straggler")


def test_personalise_switches_a_device_to_its_copy_when_its_training_ends():
    world = _world(personalise=True, clients_per_round=4)
    coordinator = Coordinator(world, StandInFleet(), _initial())
    world.run()
    t = world.table()
    for dev in range(world.n_devices):
        rows = [r for r in coordinator.round_clients if r["device"] == dev and np.isfinite(r["train_end_s"])]
        mine = t["device"] == dev
        if not rows:
            assert world.fleet.personal_version[dev] == -1 and set(t["model"][mine]) == {0}
            continue
        first = min(r["train_end_s"] for r in rows)
        assert world.fleet.personal_version[dev] == max(r["round"] for r in rows)
        assert set(t["model"][mine & (t["arrival_s"] < first)]) <= {0}
        assert set(t["model"][mine & (t["arrival_s"] > first)]) == {2}  # PERSONAL_MODEL
    assert max(world.fleet.personal_version) == 2


def test_energy_aware_selection_prefers_powered_devices():
    world = _world(selection="energy-aware", clients_per_round=4)
    fleet = StandInFleet()
    Coordinator(world, fleet, _initial())
    world.run()
    assert all(set(devices) == {0, 1, 2, 3} for _, devices in fleet.calls)  # the 4 mains-powered Pis


@pytest.mark.parametrize("codec, ratio", [("int8", 3.5), ("top-k", 4.0)])
def test_update_codecs_shrink_bytes_and_decode_close(codec, ratio):
    rng = np.random.default_rng(0)
    base = [rng.normal(size=(256, 33)).astype(np.float32), rng.normal(size=256).astype(np.float32)]
    new = [b + rng.normal(scale=0.01, size=b.shape).astype(np.float32) for b in base]
    payload, residual = encode(new, base, codec, topk_fraction=0.1)
    assert encoded_bytes(new) / encoded_bytes(payload) >= ratio
    restored = decode(payload, base, codec)
    error = np.sqrt(sum(np.sum((r - n) ** 2) for r, n in zip(restored, new)))
    delta = np.sqrt(sum(np.sum((n - b) ** 2) for n, b in zip(new, base)))
    assert error < (0.01 if codec == "int8" else 0.95) * delta
    if codec == "top-k":  # error feedback: what was not sent is exactly what remains
        np.testing.assert_allclose(sum(np.sum(r) for r in residual) + sum(np.sum(x - b) for x, b in zip(restored, base)),
                                   sum(np.sum(n - b) for n, b in zip(new, base)), rtol=1e-4)


def test_server_never_imports_device_data():
    code = ("import sys, server.app, server.coordinator, server.selection, server.strategies; "
            "print('clients.data' in sys.modules, 'clients.app' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]
