"""Edge sites, cells and metro paths: routes, their closed-form cost, the `site` and `cell` columns, errors."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml

from sim import scenario as scenarios
from sim.world import REQUEST_COLUMNS, World

DEVICE = {"profile": "raspberry-pi-4", "count": 1, "link": "wifi",
          "workload": {"kind": "periodic", "rate": "1/min", "deadline": "1s"}}
METRO_BPS, METRO_RTT_S = 50e6, 0.002


def _line(n_sites: int, **changes) -> dict:
    """Sites s0 - s1 - ... in a line, one WiFi cell each, a device at s0."""
    data = {"name": "sites", "seed": 4, "duration": "10min", "policy": {"name": "edge"},
            "fleet": [dict(DEVICE, site="s0")],
            "sites": [{"name": f"s{i}", "position": [1000.0 * i, 0.0], "cells": [{"name": f"s{i}-wifi", "link": "wifi"}]}
                      for i in range(n_sites)],
            "metro": [{"between": [f"s{i}", f"s{i + 1}"], "bandwidth": f"{METRO_BPS / 1e6:g}Mbps",
                       "rtt": f"{METRO_RTT_S * 1e3:g}ms"} for i in range(n_sites - 1)],
            "federation": {"enabled": False}}
    data.update(changes)
    return data


def _run(data: dict) -> World:
    world = World(scenarios.parse(data, "sites"))
    world.run()
    return world


def test_a_neighbour_site_costs_the_metro_hops_in_closed_form():
    """Same arrivals to the device's own site and to the site two hops away: the difference in every request's
    latency is the metro transfer of the request and its reply on each hop, plus each hop's round trip."""
    near = _run(_line(3, policy={"name": "edge", "params": {"site": 0}}))
    far = _run(_line(3, policy={"name": "edge", "params": {"site": 2}}))
    a, b = near.table(), far.table()
    assert len(a["latency_s"]) == 10 and np.array_equal(a["arrival_s"], b["arrival_s"])
    bits = (near.up_bytes + near.down_bytes) * 8.0
    hops = 2
    expected = hops * (bits / METRO_BPS + METRO_RTT_S)
    np.testing.assert_allclose(b["latency_s"] - a["latency_s"], expected, rtol=1e-4)  # float32 columns
    assert set(a["site"]) == {0} and set(b["site"]) == {2} and set(b["cell"]) == {0}
    np.testing.assert_allclose(b["propagation_s"] - a["propagation_s"], hops * METRO_RTT_S, rtol=1e-4)
    # the request went s0 -> s1 -> s2 and the reply came back the same way; nothing else touched the metro
    carried = {link.name: link.counters()[1] for link in far.links() if link.name.startswith("metro/")}
    assert carried == pytest.approx({"metro/s0-s1": 10 * far.up_bytes, "metro/s1-s2": 10 * far.up_bytes,
                                     "metro/s1-s0": 10 * far.down_bytes, "metro/s2-s1": 10 * far.down_bytes})


def test_one_declared_site_is_the_world_without_sites():
    """`sites:` with one site that holds one cell per fleet entry, the catalogue's server and WAN: the same
    requests, bit for bit, as the same scenario without `sites:`."""
    fleet = [dict(DEVICE, count=6, workload={"kind": "poisson", "rate": "2/s", "deadline": "50ms"}),
             {"profile": "smartphone", "count": 4, "link": "lte",
              "workload": {"kind": "poisson", "rate": "1/s", "deadline": "80ms"}}]
    plain = {"name": "one", "seed": 9, "duration": "20min", "policy": {"name": "greedy-latency"}, "fleet": fleet,
             "federation": {"enabled": False}}
    declared = copy.deepcopy(plain)
    declared["sites"] = [{"name": "edge", "cells": [{"name": "c0", "link": "wifi"}, {"name": "c1", "link": "lte"}]}]
    declared["fleet"][0]["cell"], declared["fleet"][1]["cell"] = "c0", "c1"
    a, b = _run(plain).table(), _run(declared).table()
    assert len(a["device"]) > 10_000
    for column in REQUEST_COLUMNS:
        np.testing.assert_array_equal(a[column], b[column], err_msg=column)


def test_greedy_sends_work_to_a_neighbour_when_its_own_site_is_slow():
    """A slow one-core server at the devices' site and a fast one a hop away: greedy learns the home queue
    from replies and moves work over the metro; latency falls against always using the home site."""
    slow = [{"name": "s0", "server": {"cores": 1, "speed": 1e6}, "cells": [{"name": "s0-wifi", "link": "wifi"}]},
            {"name": "s1", "position": [2000.0, 0.0], "cells": [{"name": "s1-wifi", "link": "wifi"}]}]
    fleet = [dict(DEVICE, count=10, site="s0", profile="mcu-cortex-m4",
                  workload={"kind": "poisson", "rate": "1/s", "deadline": "1s"})]
    mcu = {"mcu-cortex-m4": {"lstm_flops_per_s": 5e5}}  # 120 ms a forecast on the device: it offloads
    home = _run(_line(2, sites=slow, fleet=fleet, profiles=mcu, policy={"name": "edge"})).table()
    greedy = _run(_line(2, sites=slow, fleet=fleet, profiles=mcu, policy={"name": "greedy-latency"})).table()
    assert set(home["site"]) == {0}
    moved = np.mean(greedy["site"] == 1)
    assert moved > 0.5
    assert np.nanmean(greedy["latency_s"]) < 0.5 * np.nanmean(home["latency_s"])


def test_local_and_cloud_requests_have_no_site():
    world = _run(_line(2, policy={"name": "random", "params": {"p_local": 0.4, "p_edge": 0.3, "p_cloud": 0.3}},
                       duration="1h"))
    t = world.table()
    assert set(t["site"][t["target"] == 0]) == {-1} and set(t["site"][t["target"] == 2]) == {-1}
    assert set(t["site"][t["target"] == 1]) == {0}


@pytest.mark.parametrize("change, field, message", [
    (lambda d: d["fleet"][0].update(site="nowhere"), "fleet[0].site", "unknown site 'nowhere'; allowed: s0, s1"),
    (lambda d: d["fleet"][0].update(cell="s1-lte"), "fleet[0].cell", "unknown cell 's1-lte'; allowed: s0-wifi, s1-wifi"),
    (lambda d: d["fleet"][0].update(link="lte"), "fleet[0].link", "site 's0' has no 'lte' cell"),
    (lambda d: d["fleet"][0].pop("site"), "fleet[0]", "with several sites, name the entry's `site:` or `cell:`"),
    (lambda d: d["metro"].clear(), "metro", "every site must be reachable over the metro; not from 's0': 's1'"),
    (lambda d: d["metro"][0].update(between=["s0", "s9"]), "metro[0].between", "unknown site 's9'"),
    (lambda d: d["sites"][1].update(name="s0"), "sites[1].name", "'s0' names two sites"),
    (lambda d: d["sites"][1]["cells"][0].update(link="laser"), "sites[1].cells[0].link", "unknown link 'laser'"),
    (lambda d: d.update(edge={"cores": 4}), "edge", "with `sites:` each site has its own `server:`"),
    (lambda d: d.update(policy={"name": "edge", "params": {"site": 2}}), "policy.params.site",
     "no site 2; allowed: -1 (the device's own), 0 (s0), 1 (s1)"),
    (lambda d: d["sites"][0].update(position=[float("nan"), 0.0]), "sites[0].position[0]", "finite distance"),
    # several clouds (`clouds:`)
    (lambda d: d.update(clouds=[]), "clouds", "an empty list declares no cloud"),
    (lambda d: d.update(clouds=[{"name": "a"}, {"name": "a"}]), "clouds[1].name", "'a' names two clouds"),
    (lambda d: d.update(clouds=[{"name": "a"}], cloud={"cores": 8}), "cloud", "drop `cloud:`"),
    (lambda d: (d.update(clouds=[{"name": "a"}]), d["sites"][0].update(wan={"cloud": "b"})), "sites[0].wan.cloud",
     "unknown cloud 'b'; allowed: a"),
    (lambda d: (d.update(clouds=[{"name": "a"}, {"name": "b"}]),
                d["sites"][1].update(wan=[{"cloud": "a"}, {"cloud": "c"}])), "sites[1].wan[1].cloud",
     "unknown cloud 'c'; allowed: a, b"),
    (lambda d: (d.update(clouds=[{"name": "a"}]), d["sites"][0].update(wan=[{"cloud": "a"}, {"cloud": "a"}])),
     "sites[0].wan[1].cloud", "'a' is reached twice from site 's0'"),
    (lambda d: (d.update(clouds=[{"name": "a"}]), d["sites"][0].update(wan=[{"rtt": "5ms"}])),
     "sites[0].wan[0].cloud", "each link of a list names the cloud it reaches; allowed: a"),
    (lambda d: (d.update(clouds=[{"name": "a"}]), d["sites"][0].update(wan=[])), "sites[0].wan",
     "an empty list reaches no cloud"),
    (lambda d: d["sites"][0].update(wan={"cloud": "a"}), "sites[0].wan",
     "names a cloud, or lists WAN links, but the scenario declares no `clouds:`"),
    (lambda d: d.update(clouds=[{"name": "a"}], outages=[{"component": "cloud:b", "at": "1s", "for": "1s"}]),
     "outages[0].component", "unknown component 'cloud:b'; allowed: cloud, cloud:a, server:s0, server:s1, wan:s0, "
                             "wan:s1, wan:s0:a, wan:s1:a, cell:s0-wifi"),
])
def test_a_broken_topology_is_one_line_naming_the_field(change, field, message):
    data = _line(2)
    change(data)
    with pytest.raises(scenarios.ScenarioError) as error:
        scenarios.parse(data, "t.yaml")
    text = str(error.value)
    assert text.startswith(f"t.yaml: {field}: ") and message in text and "\n" not in text


def test_clouds_without_sites_are_an_error():
    data = {k: v for k, v in _line(1).items() if k not in ("sites", "metro")} | {"fleet": [DEVICE],
                                                                                 "clouds": [{"name": "a"}]}
    with pytest.raises(scenarios.ScenarioError, match=r"^t.yaml: clouds: clouds are reached over the sites' WAN "
                                                      r"links: declare `sites:` first$"):
        scenarios.parse(data, "t.yaml")


def test_a_resolved_scenario_with_clouds_reloads_equal():
    data = _line(2, clouds=[{"name": "a", "position": [0.0, 5e4]}, {"name": "b", "cores": 8}])
    data["sites"][0]["wan"] = [{"cloud": "b", "rtt": "5ms"}, {"cloud": "a"}]
    scenario = scenarios.parse(data, "t.yaml")
    resolved = yaml.safe_load(scenarios.dump(scenario))
    assert "cloud" not in resolved and "cloud" not in resolved["sites"][1]["wan"]
    assert scenarios.parse(resolved, "again") == scenario


def test_sites_without_sites_are_an_error():
    data = _line(1)
    data.pop("sites")
    with pytest.raises(scenarios.ScenarioError, match=r"fleet\[0\].site: names a site or cell, but the scenario "
                                                      r"declares no `sites:`"):
        scenarios.parse(data, "t.yaml")


def test_a_resolved_scenario_with_sites_reloads_equal():
    scenario = scenarios.parse(_line(3), "t.yaml")
    assert scenarios.parse(yaml.safe_load(scenarios.dump(scenario)), "again") == scenario
    plain = scenarios.parse({k: v for k, v in _line(1).items() if k not in ("sites", "metro")}
                            | {"fleet": [DEVICE]}, "plain")
    resolved = yaml.safe_load(scenarios.dump(plain))
    assert "sites" not in resolved and "metro" not in resolved and "site" not in resolved["fleet"][0]
    assert "edge" in resolved and "edge" not in yaml.safe_load(scenarios.dump(scenario))


def _slow_home(**changes) -> dict:
    """s0's server takes a second a forecast; s1, one metro hop away, the catalogue's speed."""
    sites = [{"name": "s0", "server": {"cores": 1, "speed": 6e4}, "cells": [{"name": "s0-wifi", "link": "wifi"}]},
             {"name": "s1", "position": [2000.0, 0.0], "cells": [{"name": "s1-wifi", "link": "wifi"}]}]
    return _line(2, sites=sites, **changes)


def test_least_loaded_forwarding_costs_what_the_direct_route_costs():
    """Every request reaches the slow s0 and is forwarded to s1: each arrives and leaves as if the device had
    sent it to s1 itself (forwarding decides in no time), and says who forwarded it."""
    forwarded = _run(_slow_home(forwarding={"kind": "least-loaded"})).table()
    direct = _run(_slow_home(policy={"name": "edge", "params": {"site": 1}})).table()
    assert set(forwarded["forwarded"]) == {0} and set(forwarded["site"]) == {1}
    assert set(direct["forwarded"]) == {-1}
    np.testing.assert_allclose(forwarded["latency_s"], direct["latency_s"], rtol=1e-5)
    np.testing.assert_allclose(forwarded["propagation_s"], direct["propagation_s"], rtol=1e-5)


def test_threshold_forwarding_waits_for_the_queue_to_pass_it():
    """Under `threshold` a site keeps requests while its queue is short: with a threshold no queue reaches,
    the run is the run without forwarding; with a short one, requests leave the slow site once it backs up."""
    busy = [dict(DEVICE, count=5, site="s0", workload={"kind": "poisson", "rate": "1/s", "deadline": "5s"})]
    none = _run(_slow_home(fleet=busy)).table()
    patient = _run(_slow_home(fleet=busy, forwarding={"kind": "threshold", "threshold": "10h"})).table()
    eager = _run(_slow_home(fleet=busy, forwarding={"kind": "threshold", "threshold": "2s"})).table()
    for column in ("latency_s", "site", "forwarded"):
        np.testing.assert_array_equal(none[column], patient[column])
    moved = eager["forwarded"] == 0
    assert 0.2 < moved.mean() < 1.0  # some wait for s0, the rest are passed on
    assert np.all(eager["queue_s"][~moved & (eager["target"] == 1)] <= 2.0 + 1.0)  # kept: waited at most ~threshold
    assert np.nanmean(eager["latency_s"]) < np.nanmean(none["latency_s"])


def test_forwarding_needs_two_sites():
    data = _line(1, forwarding={"kind": "least-loaded"})
    with pytest.raises(scenarios.ScenarioError, match=r"t.yaml: forwarding.kind: 'least-loaded' forwards between "
                                                      r"edge sites: declare two or more `sites:`"):
        scenarios.parse(data, "t.yaml")


def test_two_alike_fleet_entries_keep_two_named_cells():
    """Without sites each fleet entry has its own cell; two entries of the same profile and link must not share
    a name in links.csv (their utilisation would be merged)."""
    entry = dict(DEVICE, workload={"kind": "poisson", "rate": "1/s", "deadline": "100ms"})
    world = World(scenarios.parse({"name": "alike", "duration": "10min", "policy": {"name": "edge"},
                                   "fleet": [entry, dict(entry, count=3)], "federation": {"enabled": False}}, "a"))
    names = [link.name for link in world.links()]
    assert names == ["raspberry-pi-4/wifi/up", "raspberry-pi-4/wifi/down", "raspberry-pi-4/wifi#1/up",
                     "raspberry-pi-4/wifi#1/down", "wan/up", "wan/down"]
