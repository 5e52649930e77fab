"""An edge server down for an interval: nothing is served there, what reached it times out, devices learn of it
only through their timeouts and find out it is over through probes; estimating policies then use it again."""
from __future__ import annotations

import numpy as np
import pytest
import yaml

from sim import scenario as scenarios
from sim.recorder import SERVED, TIMEOUT
from sim.world import World

START, END, PROBE_S = 600.0, 1200.0, 10.0


def _scenario(policy: str = "greedy-latency", **changes) -> scenarios.Scenario:
    data = {"name": "outage", "seed": 3, "duration": "30min", "policy": {"name": policy},
            # a slow device CPU, so offloading pays and the home site is the natural choice
            "profiles": {"raspberry-pi-4": {"lstm_flops_per_s": 2e5}},
            "sites": [{"name": "s0", "cells": [{"name": "c0", "link": "wifi"}]},
                      {"name": "s1", "position": [5000.0, 0.0], "cells": [{"name": "c1", "link": "wifi"}]}],
            "metro": [{"between": ["s0", "s1"], "bandwidth": "1Gbps", "rtt": "20ms"}],
            "fleet": [{"profile": "raspberry-pi-4", "count": 20, "link": "wifi", "site": "s0",
                       "workload": {"kind": "poisson", "rate": "1/s", "deadline": "1s"}}],
            "outages": [{"server": "s0", "at": f"{START:g}s", "for": f"{END - START:g}s"}],
            "timeouts": {"deadlines": 2, "probe_every": f"{PROBE_S:g}s"},
            "federation": {"enabled": False}}
    data.update(changes)
    return scenarios.parse(data, "outage")


@pytest.fixture(scope="module")
def greedy():
    world = World(_scenario())
    world.run()
    return world, world.table()


def test_nothing_is_served_at_a_server_while_it_is_down(greedy):
    world, t = greedy
    at_s0 = (t["site"] == 0) & (t["dropped"] == SERVED)
    # a request reaches the server its upload after arriving, well under 10 ms on this WiFi cell
    assert not np.any(at_s0 & (t["arrival_s"] > START + 0.01) & (t["arrival_s"] < END - 0.01))
    assert np.any(at_s0 & (t["arrival_s"] < START)) and np.any(at_s0 & (t["arrival_s"] > END))


def test_what_reached_the_dead_server_timed_out_and_only_that(greedy):
    world, t = greedy
    timed_out = t["dropped"] == TIMEOUT
    assert timed_out.sum() >= 20  # at least one per device: each must learn for itself
    assert set(t["site"][timed_out]) == {0}
    assert np.all((t["arrival_s"][timed_out] > START - 0.01) & (t["arrival_s"][timed_out] < END))
    assert np.all(np.isnan(t["latency_s"][timed_out]))
    assert world.outages.summary()["timeouts"] == int(timed_out.sum())


def test_devices_move_away_during_the_outage_and_come_back_after_it(greedy):
    _, t = greedy
    during = (t["arrival_s"] > START + 2 * PROBE_S) & (t["arrival_s"] < END) & (t["dropped"] == SERVED)
    assert during.sum() > 1000 and np.mean(t["site"][during] == 0) == 0.0  # s1 or local, never the dead s0
    after = (t["arrival_s"] > END) & (t["site"] == 0) & (t["dropped"] == SERVED)
    # every device probes every PROBE_S: the first answered probe comes within one period of the repair
    assert t["arrival_s"][after].min() < END + PROBE_S + 1.0
    late = t["arrival_s"] > END + 2 * PROBE_S
    assert np.mean(t["site"][late & (t["dropped"] == SERVED)] == 0) > 0.9  # back home once it pays again


def test_an_outage_of_an_unknown_server_is_one_line():
    with pytest.raises(scenarios.ScenarioError, match=r"^o.yaml: outages\[0\].server: unknown server 'nowhere'; "
                                                      r"allowed: cloud, s0, s1$"):
        data = _scenario().model_dump(mode="json", by_alias=True)
        data["outages"] = [{"server": "nowhere", "at": "1s", "for": "1s"}]
        scenarios.parse(data, "o.yaml")


def test_a_scenario_without_outages_reads_as_before():
    plain = _scenario(outages=[], timeouts={"deadlines": 4, "probe_every": "10s"})
    text = scenarios.dump(plain)
    assert "outages" not in text and "timeouts" not in text
    assert scenarios.parse(yaml.safe_load(scenarios.dump(_scenario())), "again") == _scenario()
