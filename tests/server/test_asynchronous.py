"""FedBuff and FedAsync in simulated time, with a stand-in fleet (no Ray): staleness, the buffered step, event order."""
from __future__ import annotations

import math

import numpy as np
import pytest
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.serverapp.strategy import FedAvg

from server.asynchronous import AsyncCoordinator, Update, buffered_step, staleness_weight
from server.coordinator import Coordinator
from sim import scenario as scenarios
from sim.scenario_async import Staleness
from sim.world import World
from tests.server.test_coordinator import FakeGrid, StandInFleet, _initial, _world, flower_task_identity  # noqa: F401


@pytest.mark.parametrize("settings, expected", [
    ({"kind": "constant"}, [1.0, 1.0, 1.0, 1.0, 1.0]),
    ({"kind": "polynomial"}, [1.0, 2 ** -0.5, 3 ** -0.5, 0.5, 5 ** -0.5]),  # Xie et al.'s a = 0.5
    ({"kind": "polynomial", "a": 2}, [1.0, 1 / 4, 1 / 9, 1 / 16, 1 / 25]),
    ({"kind": "hinge"}, [1.0, 1.0, 1.0, 1.0, 1.0]),  # a = 10, b = 4: full weight up to 4 versions
    ({"kind": "hinge", "a": 2, "b": 1}, [1.0, 1.0, 1 / 3, 1 / 5, 1 / 7]),
])
def test_staleness_functions_follow_their_formulas(settings, expected):
    np.testing.assert_allclose([staleness_weight(Staleness(**settings), s) for s in range(5)], expected, rtol=1e-12)
    assert staleness_weight(Staleness(kind="hinge"), 6) == pytest.approx(1 / 21)


def _replies(arrays_list, examples):
    """Reply messages as a ClientApp sends them: arrays and num-examples."""
    template = ArrayRecord([np.zeros(2, np.float32)])
    configured = list(FedAvg(fraction_train=1.0, min_available_nodes=1, min_train_nodes=1).configure_train(
        1, template, ConfigRecord({}), FakeGrid(list(range(1, len(arrays_list) + 1)))))
    return [Message(RecordDict({"arrays": ArrayRecord(a), "metrics": MetricRecord({"num-examples": n})}), reply_to=m)
            for a, n, m in zip(arrays_list, examples, configured)]


def test_the_buffered_step_is_the_closed_form():
    rng = np.random.default_rng(5)
    current = [rng.normal(size=(3, 2)).astype(np.float32), rng.normal(size=4).astype(np.float32)]
    bases = [[rng.normal(size=a.shape).astype(np.float32) for a in current] for _ in range(3)]
    trained = [[b + rng.normal(size=b.shape).astype(np.float32) for b in base] for base in bases]
    examples, weights, step = [100, 300, 600], [1.0, 0.5, 0.25], 0.7
    updates = [Update(d, 0, t, r, n) for d, (t, r, n) in enumerate(zip(trained, _replies(trained, examples), examples))]
    strategy = FedAvg(fraction_train=1.0, min_available_nodes=1, min_train_nodes=1)
    stepped, _ = buffered_step(current, updates, bases, weights, step, strategy)
    for k, c in enumerate(current):
        expected = c + step * sum(n * w * (t[k] - b[k]) for n, w, t, b in zip(examples, weights, trained, bases)) \
            / sum(examples)
        np.testing.assert_allclose(stepped[k], expected, rtol=1e-5, atol=1e-6)
        assert stepped[k].dtype == np.float32


def _pis(**federation) -> World:
    """Six identical Pis: the first three updates all arrive before a refilled slot's can (no stragglers)."""
    return World(scenarios.parse({
        "name": "pis", "seed": 3, "duration": "30min", "policy": {"name": "local"},
        "fleet": [{"profile": "raspberry-pi-4", "count": 6, "link": "wifi",
                   "workload": {"kind": "poisson", "rate": "1/min", "deadline": "1s"}}],
        "models": {"edge": {"hidden": 8}},
        "federation": {"rounds": 1, "first_round_at": "1min", "clients_per_round": 3, "pretrain": {"rounds": 0},
                       "round_deadline": "5min", **federation}}, "pis"))


def test_fedbuff_with_a_full_buffer_and_no_stragglers_is_fedavg():
    fedbuff = _pis(mode="fedbuff", buffer_size=3, concurrency=3)
    coordinator = AsyncCoordinator(fedbuff, StandInFleet(), _initial())
    fedbuff.run()
    assert [r["staleness_max"] for r in coordinator.rounds] == [0]
    fedavg = _pis()
    Coordinator(fedavg, StandInFleet(), _initial())
    fedavg.run()
    assert fedbuff.global_version == fedavg.global_version == 1
    for a, b in zip(fedbuff.versions[1], fedavg.versions[1]):
        np.testing.assert_allclose(a, b, rtol=1e-6)
        assert not np.allclose(a, 0.0)


def _async_run(**federation):
    world = _world(**{"rounds": 6, "concurrency": 3, **federation})
    fleet = StandInFleet()
    coordinator = AsyncCoordinator(world, fleet, _initial())
    world.run()
    return world, fleet, coordinator


def test_a_freed_slot_restarts_at_once_from_the_newest_model():
    world, _, coordinator = _async_run(mode="fedbuff", buffer_size=2)
    published = [(r["deadline_s"], r["model_version"]) for r in coordinator.rounds if r["phase"] == "deploy"]
    assert [v for _, v in published] == [1, 2, 3, 4, 5, 6]
    arrivals = sorted(r["upload_end_s"] for r in coordinator.round_clients if np.isfinite(r["upload_end_s"]))
    later = [r for r in coordinator.round_clients if r["start_s"] > 60.0]
    assert later
    for row in later:
        assert row["start_s"] in arrivals  # the slot was refilled at the instant an upload arrived
        newest = max([v for t, v in published if t <= row["start_s"]], default=0)
        assert row["base_version"] == newest  # after that instant's step, if any
        ready = row["start_s"] if math.isnan(row["download_end_s"]) else row["download_end_s"]
        if np.isfinite(row["train_start_s"]):
            assert 0.0 <= row["train_start_s"] - ready < 0.01  # it trains as soon as it holds the model
    aggregated = [r for r in coordinator.round_clients if r["status"] == "aggregated"]
    assert len(aggregated) == 12 and all(r["staleness"] == r["into_version"] - 1 - r["base_version"]
                                         for r in aggregated)
    assert max(r["staleness_max"] for r in coordinator.rounds) > 0  # the slower phones come back stale


def test_fedasync_mixes_each_update_in_with_its_staleness_weight():
    world, _, coordinator = _async_run(mode="fedasync", staleness={"kind": "polynomial", "a": 1}, server_step=0.5,
                                       rounds=12)
    aggregated = sorted((r for r in coordinator.round_clients if r["status"] == "aggregated"),
                        key=lambda r: r["into_version"])
    assert [r["into_version"] for r in aggregated] == list(range(1, 13))
    for row in aggregated:
        before, base = world.versions[row["into_version"] - 1], world.versions[row["base_version"]]
        alpha = 0.5 / (1 + row["staleness"])
        for k in range(2):  # the stand-in client returns its base + 0.1 (device + 1)
            client = base[k] + np.float32(0.1 * (row["device"] + 1))
            np.testing.assert_allclose(world.versions[row["into_version"]][k],
                                       (1 - alpha) * before[k] + alpha * client, rtol=1e-5, atol=1e-7)
    rounds = [r for r in coordinator.rounds if r["phase"] == "deploy"]
    assert [r["aggregated"] for r in rounds] == [1] * 12
    assert [r["staleness_max"] for r in rounds] == [r["staleness"] for r in aggregated]
    assert any(r["staleness"] > 0 for r in aggregated)


def test_async_training_uses_only_available_devices_and_a_leaver_drops_out(tmp_path):
    trace = tmp_path / "availability.csv"
    trace.write_text("device,start_s,end_s\n0,0,1e6\n1,0,1e6\n3,0,60.001\n")
    world, fleet, coordinator = _async_run(mode="fedbuff", buffer_size=1, concurrency=4, rounds=3,
                                           availability={"kind": "trace", "file": str(trace)})
    assert {d for _, devices in fleet.calls for d in devices} == {0, 1, 3}
    leaver = [r for r in coordinator.round_clients if r["device"] == 3]
    assert [(r["status"], r.get("reason")) for r in leaver] == [("dropout", "unavailable")]
    assert world.global_version == 3
