"""Hierarchical FL and edge model caches in simulated time, with a stand-in fleet (no Ray)."""
from __future__ import annotations

import numpy as np
import pytest
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict

from clients.compression import encode, encoded_bytes
from server.coordinator import Coordinator
from server.hierarchy import HierarchicalCoordinator, cloud_aggregate
from server.model_cache import SiteModelCache
from server.strategies import make_strategy
from sim import scenario as scenarios
from sim.world import World
from tests.server.test_coordinator import FakeGrid, flower_task_identity  # noqa: F401  (autouse fixture)

SITES = ("north", "east", "south")


class StandInFleet:
    """Answers TRAIN like a ClientApp: weights + 0.1 * (device + 1), 100 * (device + 1) examples."""

    def __init__(self):
        self.calls: list[tuple[int, list[int], list[np.ndarray]]] = []

    def train(self, strategy, server_round, devices, arrays, config):
        self.calls.append((server_round, list(devices), arrays.to_numpy_ndarrays()))
        messages = strategy.configure_train(server_round, arrays, ConfigRecord(config),
                                            FakeGrid([d + 1 for d in devices]))
        replies = {}
        for msg in messages:
            dev = msg.metadata.dst_node_id - 1
            new = [a + 0.1 * (dev + 1) for a in arrays.to_numpy_ndarrays()]
            payload, _ = encode(new, arrays.to_numpy_ndarrays(), "none")
            metrics = MetricRecord({"num-examples": 100 * (dev + 1), "train-loss": 1.0,
                                    "update-bytes": encoded_bytes(payload)})
            replies[dev] = Message(RecordDict({"arrays": ArrayRecord(payload), "metrics": metrics}), reply_to=msg)
        return replies


def _scenario(sites=SITES, per_site=3, **federation) -> dict:
    fed = {"rounds": 4, "first_round_at": "1min", "every": "5min", "clients_per_round": 2,
           "pretrain": {"rounds": 0}, "round_deadline": "2min"}
    fed.update(federation)
    return {"name": "hier", "seed": 5, "duration": "30min", "policy": {"name": "local"},  # WAN: FL traffic only
            "sites": [{"name": n, "cells": [{"name": f"{n}-wifi", "link": "wifi"}]} for n in sites],
            "metro": [{"between": [a, b], "bandwidth": "1Gbps", "rtt": "2ms"} for a, b in zip(sites, sites[1:])],
            "fleet": [{"profile": "raspberry-pi-4", "count": per_site, "link": "wifi", "site": n,
                       "workload": {"kind": "poisson", "rate": "1/min", "deadline": "1s"}} for n in sites],
            "models": {"edge": {"hidden": 8}}, "federation": fed}


def _without_sites(data: dict) -> dict:
    for key in ("sites", "metro"):
        data.pop(key)
    for group in data["fleet"]:
        group.pop("site")
    return data


def _world(data: dict) -> World:
    return World(scenarios.parse(data, "hier"))


def _initial():
    return [np.zeros((4, 3), np.float32), np.zeros(4, np.float32)]


def _wan_bytes(world: World) -> tuple[float, float]:
    """(bytes carried up, down) over every site's WAN."""
    sites = world.topology.sites
    return (sum(s.wan_up.counters()[1] for s in sites), sum(s.wan_down.counters()[1] for s in sites))


# --- schema ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("change, message", [
    (lambda d: _without_sites(d), "federation.hierarchy: sites aggregate"),
    (lambda d: d["federation"].update(selection="energy-aware"), "federation.selection: hierarchical FL selects"),
    (lambda d: d["federation"].update(hierarchy={"edge_rounds_per_cloud": 0}), "edge_rounds_per_cloud"),
])
def test_hierarchy_schema_errors_name_the_field(change, message):
    data = _scenario(hierarchy={"edge_rounds_per_cloud": 2})
    change(data)
    with pytest.raises(scenarios.ScenarioError, match=message):
        scenarios.parse(data, "hier")


def test_edge_cache_needs_sites():
    data = _without_sites(_scenario(edge_cache=True))
    with pytest.raises(scenarios.ScenarioError, match="federation.edge_cache: sites cache"):
        scenarios.parse(data, "hier")


def test_a_flat_scenario_dumps_without_the_new_keys():
    dumped = scenarios.parse(_scenario(), "hier").model_dump()["federation"]
    assert "hierarchy" not in dumped and "edge_cache" not in dumped


# --- aggregation math -----------------------------------------------------------------------------
def test_cloud_aggregation_is_the_sample_weighted_mean_of_the_site_models():
    models = {0: ([np.full((2, 2), 1.0, np.float32), np.array([3.0], np.float32)], 100),
              2: ([np.full((2, 2), 4.0, np.float32), np.array([-1.0], np.float32)], 300),
              1: ([np.full((2, 2), -2.0, np.float32), np.array([0.0], np.float32)], 600)}
    fed = scenarios.parse(_scenario(), "hier").federation
    out = cloud_aggregate(make_strategy(fed), 1, models)
    # (100 * 1 + 600 * -2 + 300 * 4) / 1000 = 0.1; (100 * 3 + 300 * -1) / 1000 = 0
    np.testing.assert_allclose(out[0], np.full((2, 2), 0.1), rtol=1e-6)
    np.testing.assert_allclose(out[1], [0.0], atol=1e-7)


def test_edge_then_cloud_rounds_follow_hierfavg():
    world = _world(_scenario(hierarchy={"edge_rounds_per_cloud": 2}))
    fleet = StandInFleet()
    coordinator = HierarchicalCoordinator(world, fleet, _initial())
    world.run()
    levels = [(r["level"], r["site"], r["round"]) for r in coordinator.rounds]
    edge = [(lvl, s, r) for lvl, s, r in levels if lvl == "edge"]
    assert edge == [("edge", s, r) for r in (1, 2, 3, 4) for s in (0, 1, 2)]
    assert [x for x in levels if x[0] == "cloud"] == [("cloud", -1, 1), ("cloud", -1, 2)]
    assert levels.index(("cloud", -1, 1)) == 6  # after both edge rounds of all three sites
    # each site's two edge rounds: +0.1 (d + 1) averaged by examples 100 (d + 1) at a time, from the site model
    expected_site, samples = {}, {}
    for server_round, devices, _ in fleet.calls[:6]:
        site = devices[0] // 3
        weights = np.array([d + 1 for d in devices], float)
        step = float(np.sum(weights * 0.1 * weights) / weights.sum())
        expected_site[site] = expected_site.get(site, 0.0) + step
        samples[site] = samples.get(site, 0) + 100 * weights.sum()
    assert all({d // 3 for d in devices} == {devices[0] // 3} for _, devices, _ in fleet.calls)  # own devices only
    total = sum(samples.values())
    expected = sum(expected_site[s] * samples[s] for s in samples) / total
    np.testing.assert_allclose(world.versions[1][0], expected, rtol=1e-5)
    # the third edge round starts every site from the global model
    for _, devices, base in fleet.calls[6:9]:
        np.testing.assert_allclose(base[0], world.versions[1][0])
    assert world.global_version == 2 and min(world.fleet.model_version) == 2


def test_one_site_and_k_1_gives_flat_fedavgs_models():
    flat_world = _world(_scenario(sites=("only",), per_site=6))
    Coordinator(flat_world, StandInFleet(), _initial())
    flat_world.run()
    hier_world = _world(_scenario(sites=("only",), per_site=6, hierarchy={"edge_rounds_per_cloud": 1}))
    HierarchicalCoordinator(hier_world, StandInFleet(), _initial())
    hier_world.run()
    assert sorted(hier_world.versions) == sorted(flat_world.versions) == [0, 1, 2, 3, 4]
    for v in flat_world.versions:
        for a, b in zip(hier_world.versions[v], flat_world.versions[v]):
            np.testing.assert_array_equal(a, b)


# --- WAN bytes and caches -------------------------------------------------------------------------
def test_updates_stay_off_the_wan_until_the_cloud_round():
    world = _world(_scenario(hierarchy={"edge_rounds_per_cloud": 2}, rounds=4))
    coordinator = HierarchicalCoordinator(world, StandInFleet(), _initial())
    world.run()
    up, down = _wan_bytes(world)
    cloud = [r for r in coordinator.rounds if r["level"] == "cloud"]
    # per cloud round: three site models up, one global copy down per site (not one per device)
    assert up == pytest.approx(2 * 3 * world.update_bytes)
    assert down == pytest.approx(2 * 3 * world.model_bytes)
    assert [r["wan_bytes"] for r in cloud] == pytest.approx([3 * (world.update_bytes + world.model_bytes)] * 2)
    # each of the 9 devices then downloads from its site's cache: 9 hits a version, no WAN
    assert [r["wan_bytes_saved"] for r in cloud] == pytest.approx([9 * world.model_bytes] * 2)
    assert all(r["wan_bytes"] == 0.0 for r in coordinator.rounds if r["level"] == "edge")


def test_a_cache_miss_costs_the_wan_transfer_and_a_hit_does_not():
    world = _world(_scenario())
    cache = SiteModelCache(world)
    wan = world.topology.sites[0].wan_down
    cell = world.topology.down_link[0]
    done = []
    cache.deliver(0, 1, 1e5, lambda: done.append(("miss", world.env.now)))
    world.env.run(until=60)
    assert wan.counters()[1] == pytest.approx(1e5) and cell.counters()[1] == pytest.approx(1e5)
    cache.deliver(1, 1, 1e5, lambda: done.append(("hit", world.env.now)))  # same site, same version
    world.env.run(until=120)
    assert wan.counters()[1] == pytest.approx(1e5)  # no second WAN copy
    assert cell.counters()[1] == pytest.approx(2e5)
    assert [k for k, _ in done] == ["miss", "hit"]
    assert (cache.wan_bytes, cache.wan_bytes_saved) == (pytest.approx(1e5), pytest.approx(1e5))
    cache.deliver(3, 1, 1e5, lambda: None)  # another site: its own miss
    world.env.run(until=180)
    assert world.topology.sites[1].wan_down.counters()[1] == pytest.approx(1e5)


def test_two_misses_in_flight_share_one_wan_copy():
    world = _world(_scenario())
    cache = SiteModelCache(world)
    for dev in (0, 1, 2):
        cache.deliver(dev, 1, 1e5, lambda: None)
    world.env.run(until=60)
    assert world.topology.sites[0].wan_down.counters()[1] == pytest.approx(1e5)
    assert world.topology.down_link[0].counters()[1] == pytest.approx(3e5)


def test_flat_fl_with_edge_cache_sends_one_copy_per_site_and_off_changes_nothing():
    runs = {}
    for cache in (False, True):
        world = _world(_scenario(edge_cache=cache, clients_per_round=4))
        coordinator = Coordinator(world, StandInFleet(), _initial())
        world.run()
        runs[cache] = (world, coordinator)
    (off, flat), (on, cached) = runs[False], runs[True]
    for v in off.versions:  # the cache changes where bytes travel, not the models
        np.testing.assert_array_equal(off.versions[v][0], on.versions[v][0])
    assert "wan_bytes" not in flat.rounds[0]
    # 4 rounds, 9 devices: without a cache every device's copy crosses the WAN, with one each site's only
    assert _wan_bytes(off)[1] == pytest.approx(4 * 9 * off.model_bytes)
    assert _wan_bytes(on)[1] == pytest.approx(4 * 3 * on.model_bytes)
    assert sum(r["wan_bytes_saved"] for r in cached.rounds) == pytest.approx(4 * 6 * on.model_bytes)
