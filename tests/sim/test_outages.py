"""The outages schema and its one-line errors, the link's stall seam against its closed form, the records
(outages.csv, summary.json), and what a scenario without the new fields keeps."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import simpy

from sim import scenario as scenarios
from sim.calendar import Calendar
from sim.network import SharedLink
from sim.recorder import TIMEOUT
from sim.world import World


def _data(**changes) -> dict:
    data = {"name": "o", "seed": 5, "duration": "10min", "policy": {"name": "greedy"},
            "profiles": {"raspberry-pi-4": {"lstm_flops_per_s": 2e5}},
            "sites": [{"name": "s0", "cells": [{"name": "c0", "link": "wifi"}]},
                      {"name": "s1", "cells": [{"name": "c1", "link": "wifi"}]}],
            "metro": [{"between": ["s0", "s1"], "bandwidth": "1Gbps", "rtt": "2ms"}],
            "fleet": [{"profile": "raspberry-pi-4", "count": 4, "link": "wifi", "site": "s0",
                       "workload": {"kind": "poisson", "rate": "1/s", "deadline": "1s"}}],
            "federation": {"enabled": False}}
    data.update(changes)
    return data


def _error(outages: list, **changes) -> str:
    with pytest.raises(scenarios.ScenarioError) as caught:
        scenarios.parse(_data(outages=outages, **changes), "o.yaml")
    return str(caught.value)


@pytest.mark.parametrize("entry, message", [
    ({"component": "cell:nowhere", "at": "1s", "for": "1s"},
     "o.yaml: outages[0].component: unknown component 'cell:nowhere'; allowed: cloud, server:s0, server:s1, "
     "wan:s0, wan:s1, cell:c0, cell:c1, metro:s0-s1"),
    ({"server": "nowhere", "at": "1s", "for": "1s"},
     "o.yaml: outages[0].server: unknown server 'nowhere'; allowed: cloud, s0, s1"),
    ({"component": "cloud", "server": "s0", "at": "1s", "for": "1s"},
     "o.yaml: outages[0]: name the failing part with `component:` (or the older `server:`), one of them"),
    ({"component": "cloud", "at": "1s", "mtbf": "1h", "mttr": "1min"},
     "o.yaml: outages[0]: an outage is scheduled (`at`, `for`) or random (`mtbf`, `mttr`), not both"),
    ({"component": "cloud", "at": "1s"},
     "o.yaml: outages[0]: a scheduled outage needs `at` and `for`; a random one `mtbf` and `mttr`"),
    ({"component": "cloud", "mtbf": "1h"}, "o.yaml: outages[0]: a random outage needs both `mtbf` and `mttr`"),
    ({"component": "cloud", "mtbf": "1h", "mttr": "1ms"},
     "o.yaml: outages[0]: mtbf and mttr must be >= 1s, got 3600s and 0.001s"),
])
def test_a_bad_outage_is_one_line(entry, message):
    assert _error([entry]) == message


def test_a_metro_link_is_named_either_way_round_and_the_older_form_reads_as_new():
    scenario = scenarios.parse(_data(outages=[{"component": "metro:s1-s0", "at": "1s", "for": "1s"},
                                              {"server": "cloud", "at": "1s", "for": "1s"},
                                              {"server": "s1", "at": "1s", "for": "1s"}]), "o")
    assert [o.name for o in scenario.outages] == ["metro:s1-s0", "cloud", "server:s1"]
    world = World(scenario)
    assert [e[0].name for e in world.outages.entries] == ["metro:s0-s1", "cloud", "server:s1"]
    assert scenarios.parse(scenarios.yaml.safe_load(scenarios.dump(scenario)), "again") == scenario


def test_without_sites_the_components_are_the_one_site_and_its_cells():
    data = _data(outages=[{"component": "cell:nowhere", "at": "1s", "for": "1s"}])
    for key in ("sites", "metro"):
        data.pop(key)
    data["fleet"][0].pop("site")
    with pytest.raises(scenarios.ScenarioError, match=r"allowed: cloud, server:edge, wan:edge, "
                                                      r"cell:raspberry-pi-4/wifi$"):
        scenarios.parse(data, "o.yaml")


def test_the_older_server_form_gives_the_same_results_as_the_component_form():
    old = World(scenarios.parse(_data(outages=[{"server": "s0", "at": "2min", "for": "3min"}]), "o"))
    new = World(scenarios.parse(_data(outages=[{"component": "server:s0", "at": "2min", "for": "3min"}]), "o"))
    old.run()
    new.run()
    a, b = old.table(), new.table()
    assert (b["dropped"] == TIMEOUT).sum() > 0
    assert all(np.array_equal(a[k], b[k], equal_nan=True) for k in a)


def test_a_stalled_flow_finishes_its_stall_later_and_a_flow_sent_while_down_waits_too():
    env = simpy.Environment()
    calendar = Calendar(env)
    link = SharedLink(calendar, 8e6, "l")  # 1 MB/s
    done: dict[str, float] = {}
    link.send(1e6, lambda name: done.setdefault(name, env.now), "first")  # alone: 1 s
    calendar.at(0.5, lambda _: link.stall(), None)
    calendar.at(0.7, lambda _: link.send(0.5e6, lambda name: done.setdefault(name, env.now), "second"), None)
    calendar.at(2.5, lambda _: link.resume(), None)
    env.run(until=10)
    # first: 0.5 MB left at 2.5 s, shared with second (0.5 MB) at 0.5 MB/s each: both finish at 3.5 s
    assert done == pytest.approx({"first": 3.5, "second": 3.5}, abs=1e-9)
    assert link.counters()[1] == 1.5e6 and not link.down and link.bytes_per_s == 1e6


def test_a_trace_that_changes_a_dead_links_rate_applies_from_the_repair():
    env = simpy.Environment()
    calendar = Calendar(env)
    link = SharedLink(calendar, 8e6, "l")
    done = []
    link.stall()
    link.set_capacity(16e6)  # 2 MB/s once it is back
    link.send(1e6, lambda _: done.append(env.now), 0)
    calendar.at(1.0, lambda _: link.resume(), None)
    env.run(until=5)
    assert done == pytest.approx([1.5]) and link.capacity_bps == 16e6


def test_outages_csv_and_summary_record_every_window(tmp_path):
    from sim.app.runner import collect, write_run

    scenario = scenarios.parse(_data(outages=[{"component": "wan:s0", "at": "1min", "for": "2min"},
                                              {"component": "wan:s0", "at": "2min", "for": "2min"},
                                              {"component": "cell:c1", "mtbf": "2min", "mttr": "30s"}]), "o")
    world = World(scenario)
    world.run()
    result = collect(world, [], [], [])  # no pretraining, no scoring: only the records are read here
    out = write_run(result, tmp_path / "run", plots=False)
    with (out / "outages.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["component", "kind", "start_s", "end_s"]
    wan = [(float(r["start_s"]), float(r["end_s"])) for r in rows if r["component"] == "wan:s0"]
    assert wan == [(60.0, 180.0), (120.0, 240.0)]
    cell = [r for r in rows if r["component"] == "cell:c1"]
    assert cell and {r["kind"] for r in cell} == {"random"} and all(float(r["end_s"]) <= 600.0 for r in cell)
    parts = result.summary["outages"]["components"]
    assert parts["wan:s0"]["down_s"] == 180.0 and parts["wan:s0"]["outages"] == 2  # overlaps counted once
    assert parts["cell:c1"]["down_s"] == pytest.approx(sum(float(r["end_s"]) - float(r["start_s"]) for r in cell))


def test_a_random_outage_shifts_no_other_draw():
    plain = World(scenarios.parse(_data(), "o"))
    failing = World(scenarios.parse(_data(outages=[{"component": "cloud", "mtbf": "1min", "mttr": "10s"}],
                                          timeouts={"refresh": "never"}), "o"))
    plain.run()
    failing.run()
    assert np.array_equal(plain.table()["arrival_s"], failing.table()["arrival_s"])
    assert len(failing.outages.rows()) > 3


def test_a_scenario_without_outages_or_traces_refreshes_nothing_unless_told():
    assert World(scenarios.parse(_data(), "o")).estimates is None
    assert World(scenarios.parse(_data(timeouts={"refresh": "always"}), "o")).estimates is not None
    assert World(scenarios.parse(_data(outages=[{"component": "cloud", "at": "1s", "for": "1s"}],
                                       timeouts={"refresh": "never"}), "o")).estimates is None


def test_a_dead_metro_link_stalls_what_crosses_it_and_the_timeouts_are_booked_to_it():
    world = World(scenarios.parse(_data(policy={"name": "edge", "params": {"site": 1}},  # s0's devices to s1
                                        outages=[{"component": "metro:s0-s1", "at": "2min", "for": "3min"}]), "o"))
    world.run()
    t = world.table()
    a, done = t["arrival_s"], t["arrival_s"] + t["latency_s"]
    assert not np.any((t["dropped"] == 0) & (done > 120.0) & (done < 300.0))
    assert np.all(t["dropped"][(a > 120.0) & (a < 296.0)] == TIMEOUT)  # the timeout: 4 x 1 s
    parts = world.outages.summary()["components"]
    assert parts["metro:s0-s1"]["timeouts"] == (t["dropped"] == TIMEOUT).sum() > 100
    assert np.mean(t["dropped"][a > 300.0] == 0) == 1.0  # stalled flows go on: served again after the repair
