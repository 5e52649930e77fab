"""Several clouds (`clouds:`): each site sends its cloud requests to the cloud its WAN links reach soonest
(round trip plus a request's and reply's transfer on idle links); on an idle network a cloud request costs
exactly its hops over that link and that cloud's compute; outages of one cloud or one WAN link touch only the
sites whose requests go that way; one declared cloud with the defaults is the world without `clouds:`."""
from __future__ import annotations

import numpy as np
import pytest

from sim import scenario as scenarios
from sim.policies import CLOUD
from sim.recorder import SERVED, TIMEOUT
from sim.world import REQUEST_COLUMNS, World

FAST_ACCESS = {"base": "wifi", "up_bps": 1e10, "down_bps": 1e10, "promotion_s": 0.0, "tail_s": 0.0}
# s0 reaches east in 10 ms and west in 60 ms; s1 reaches east in 15 ms over a 200 kbit/s link (a request and
# its reply take longer there than the 5 ms it saves) and west in 20 ms over 1 Gbit/s
WANS = {"s0": [{"cloud": "east", "up": "1Gbps", "down": "1Gbps", "rtt": "10ms"},
               {"cloud": "west", "up": "1Gbps", "down": "1Gbps", "rtt": "60ms"}],
        "s1": [{"cloud": "east", "up": "200kbps", "down": "200kbps", "rtt": "15ms"},
               {"cloud": "west", "up": "1Gbps", "down": "1Gbps", "rtt": "20ms"}]}
SPEED = {"east": 2e9, "west": 5e8}  # FLOP/s per core: the clouds' compute times differ


def _data(outages: list | None = None, **changes) -> dict:
    data = {"name": "clouds", "seed": 6, "duration": "20min", "policy": {"name": "cloud"},
            "links": {"fast": FAST_ACCESS},
            "clouds": [{"name": name, "speed": speed, "position": [1e5 * k, 0.0]}
                       for k, (name, speed) in enumerate(SPEED.items())],
            "sites": [{"name": s, "position": [1000.0 * i, 0.0], "wan": WANS[s],
                       "cells": [{"name": f"{s}-fast", "link": "fast"}]} for i, s in enumerate(WANS)],
            "metro": [{"between": ["s0", "s1"], "bandwidth": "1Gbps", "rtt": "2ms"}],
            "fleet": [{"profile": "raspberry-pi-4", "count": 3, "link": "fast", "site": s,
                       "workload": {"kind": "periodic", "rate": "1/min", "deadline": "1s"}} for s in WANS],
            "outages": outages or [], "timeouts": {"deadlines": 2},
            "federation": {"enabled": False}}
    data.update(changes)
    return data


def _run(data: dict) -> World:
    world = World(scenarios.parse(data, "clouds"))
    world.run()
    return world


@pytest.fixture(scope="module")
def idle():
    return _run(_data())


def test_each_site_uses_the_cloud_its_wan_reaches_soonest(idle):
    world, t = idle, idle.table()
    bits_up, bits_down = world.up_bytes * 8.0, world.down_bytes * 8.0
    # the rule spelled out: s1's slow link to east costs more than the 5 ms of round trip it saves
    cost = {(site.name, link.cloud): link.rtt + bits_up / link.up + bits_down / link.down
            for site in world.scenario.sites for link in site.wan}
    assert cost["s1", "east"] > cost["s1", "west"] + 0.01 and cost["s0", "east"] < cost["s0", "west"]
    assert [site.cloud for site in world.topology.sites] == [0, 1]
    home = np.array([world.topology.home_site[d] for d in t["device"]])
    assert np.all(t["target"] == CLOUD) and len(t["device"]) == 6 * 20
    np.testing.assert_array_equal(t["cloud"], home)  # s0's devices to east (0), s1's to west (1)
    assert np.all(t["site"] == -1)


def test_an_idle_cloud_request_costs_exactly_its_wan_hops_and_that_clouds_compute(idle):
    world, t = idle, idle.table()
    access = world.scenario.link_profile("fast")
    bits_up, bits_down = world.up_bytes * 8.0, world.down_bytes * 8.0
    flops = world.topology.clouds[0].compute_s * SPEED["east"]
    expected = {0: 0.010 + flops / SPEED["east"], 1: 0.020 + flops / SPEED["west"]}  # rtt + compute
    for cloud, fixed in expected.items():
        rows = t["cloud"] == cloud
        latency = (bits_up / access.up_bps + bits_up / 1e9 + fixed + access.rtt_s + bits_down / 1e9
                   + bits_down / access.down_bps)
        np.testing.assert_allclose(t["latency_s"][rows], latency, rtol=1e-6)  # float32 column
        np.testing.assert_allclose(t["compute_s"][rows], fixed - (0.010, 0.020)[cloud], rtol=1e-6)
        np.testing.assert_allclose(t["propagation_s"][rows], access.rtt_s + (0.010, 0.020)[cloud], rtol=1e-6)
    assert expected[1] - expected[0] > 0.01  # the two clouds are told apart by latency, not only by the column


def _window(component: str) -> list:
    return [{"component": component, "at": "300s", "for": "300s"}]


@pytest.mark.parametrize("component, dead_sites", [
    ("cloud:east", {0}), ("cloud:west", {1}), ("cloud", {0, 1}),
    ("wan:s0:east", {0}), ("wan:s1:east", set()), ("wan:s1", {1})])
def test_an_outage_of_one_cloud_or_one_wan_link_touches_only_the_sites_routed_through_it(component, dead_sites):
    world = _run(_data(_window(component)))
    t = world.table()
    home = np.array([world.topology.home_site[d] for d in t["device"]])
    during = (t["arrival_s"] > 300.0) & (t["arrival_s"] < 598.0)
    for site in (0, 1):
        mine = during & (home == site)
        assert mine.sum() == 3 * 5
        if site in dead_sites:
            assert np.all(t["dropped"][mine] == TIMEOUT)
        else:
            assert np.all(t["dropped"][mine] == SERVED)
    assert np.all(t["dropped"][~during] == SERVED)
    blamed = world.outages.summary()["components"]
    assert blamed.get(component, {}).get("timeouts", 0) == int((t["dropped"] == TIMEOUT).sum())


def test_one_declared_cloud_with_the_defaults_is_the_world_without_clouds():
    single = _data(policy={"name": "random"}, duration="10min")
    for site in single["sites"]:
        site["wan"] = {}
    single["fleet"][0]["count"] = single["fleet"][1]["count"] = 20
    plain = dict(single)
    plain.pop("clouds")
    declared = dict(single, clouds=[{"name": "only"}])
    a, b = _run(plain).table(), _run(declared).table()
    assert (a["target"] == CLOUD).sum() > 100
    for column in REQUEST_COLUMNS:
        np.testing.assert_array_equal(a[column], b[column], err_msg=column)
    assert set(a["cloud"][a["target"] == CLOUD]) == {0} and set(a["cloud"][a["target"] != CLOUD]) == {-1}
