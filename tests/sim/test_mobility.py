"""Mobility: handovers at the closed-form instants, the interruption they cost, out of coverage, random
waypoint against theory, determinism, and a world that does not move running as before."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from sim import scenario as scenarios
from sim.movement import RandomWaypoint
from sim.recorder import NO_COVERAGE, SERVED
from sim.world import REQUEST_COLUMNS, World

SPEED_M_PER_S = 12.0
UPDATE_S = 0.25
HANDOVER_S = 0.25  # one periodic request (4/s) falls in each interruption


def _street(tmp_path, points: list[tuple[float, float]], **changes) -> dict:
    """One site with two WiFi cells 1000 m apart (radius 600 m: they overlap from x = 400 to 600), a Pi
    following the trace `points` [(time s, x m)] along y = 0, every request offloaded to the site."""
    trace = tmp_path / "walk.csv"
    trace.write_text("time_s,device,x,y\n" + "".join(f"{t},0,{x},0\n" for t, x in points))
    data = {"name": "street", "seed": 5, "duration": "4min", "policy": {"name": "edge"},
            "links": {"wifi": {"handover_s": HANDOVER_S}},
            "sites": [{"name": "s0", "cells": [{"name": "a", "link": "wifi", "radius": 600.0},
                                               {"name": "b", "link": "wifi", "position": [1000.0, 0.0],
                                                "radius": 600.0}]}],
            "fleet": [{"profile": "raspberry-pi-4", "count": 1, "link": "wifi",
                       "workload": {"kind": "periodic", "rate": "4/s", "deadline": "1s"},
                       "mobility": {"kind": "trace", "file": str(trace), "update": f"{UPDATE_S}s"}}],
            "federation": {"enabled": False}}
    data.update(changes)
    return data


def _run(data: dict) -> World:
    world = World(scenarios.parse(data, "t.yaml"))
    world.run()
    return world


def _first_step_after(t: float) -> float:
    return math.floor(t / UPDATE_S + 1.0) * UPDATE_S


THERE_AND_BACK = [(0.0, 0.0), (100.0, 1200.0), (200.0, 0.0)]  # 12 m/s out, then back


def test_a_device_on_a_straight_line_hands_over_where_the_cells_meet(tmp_path):
    """Nearest cell in range: a -> b once x passes 500 m (t = 500/12 s), b -> a on the way back when x is under
    500 m again (t = 100 + 700/12 s); each seen at the first update step after the crossing."""
    world = _run(_street(tmp_path, THERE_AND_BACK))
    out, back = 500.0 / SPEED_M_PER_S, 100.0 + 700.0 / SPEED_M_PER_S
    assert world.mobility.events == [(_first_step_after(out), 0, 0, 1), (_first_step_after(back), 0, 1, 0)]
    assert world.mobility.handovers == [2] and world.mobility.out_of_coverage_s == [0.0]
    t = world.table()
    cell_expected = np.where((t["arrival_s"] >= _first_step_after(out)) & (t["arrival_s"] < _first_step_after(back)),
                             1, 0)
    np.testing.assert_array_equal(t["cell"], cell_expected)
    assert set(t["site"]) == {0}


def test_a_request_issued_in_the_interruption_waits_for_the_rest_of_it(tmp_path):
    """Same arrivals with a 250 ms handover and with none: only the request that arrived inside each
    interruption is slower, by exactly what was left of the interruption; every other one is unchanged."""
    slow = _run(_street(tmp_path, THERE_AND_BACK))
    free = _run(_street(tmp_path, THERE_AND_BACK, links={"wifi": {"handover_s": 0.0}}))
    a, b = slow.table(), free.table()
    assert np.array_equal(a["arrival_s"], b["arrival_s"]) and (a["dropped"] == SERVED).all()
    extra = a["latency_s"].astype(np.float64) - b["latency_s"]
    expected = np.zeros(len(extra))
    for at, *_ in slow.mobility.events:
        inside = (a["arrival_s"] >= at) & (a["arrival_s"] < at + HANDOVER_S)
        assert inside.sum() == 1  # one request every 250 ms
        expected[inside] = at + HANDOVER_S - a["arrival_s"][inside]
    assert (expected > 0).sum() == 2
    np.testing.assert_allclose(extra, expected, atol=2e-6)  # float32 latencies of about 4 ms


def test_out_of_coverage_loses_new_offloads_and_replies_still_on_the_way(tmp_path):
    """Walking out of cell b's 600 m at t = 1600/12 s: from that step on every offloaded request is lost
    (no-coverage), and so is a request sent before whose reply (a 2 s server) came back after it."""
    slow_server = [{"name": "s0", "server": {"speed": 3e4},
                    "cells": [{"name": "a", "link": "wifi", "radius": 600.0},
                              {"name": "b", "link": "wifi", "position": [1000.0, 0.0], "radius": 600.0}]}]
    world = _run(_street(tmp_path, [(0.0, 0.0), (200.0, 2400.0)], sites=slow_server))
    gone = _first_step_after(1600.0 / SPEED_M_PER_S)
    assert world.mobility.events[-1] == (gone, 0, 1, -1)
    assert world.mobility.out_of_coverage_s == [pytest.approx(world.duration_s - gone)]
    t = world.table()
    compute_s = world.topology.sites[0].compute_s
    assert 1.5 < compute_s < 2.5
    lost = t["dropped"] == NO_COVERAGE
    assert np.isnan(t["latency_s"][lost]).all()
    arrival = t["arrival_s"]
    # the server is one core: requests queue, so the ones that could not be back in time are a few seconds' worth
    assert (arrival[lost] >= gone - 10 * compute_s).all() and lost[arrival >= gone].all()
    in_flight = lost & (arrival < gone)
    assert in_flight.sum() >= 1 and (t["cell"][in_flight] == 1).all() and (t["cell"][arrival >= gone] == -1).all()
    assert (t["dropped"][~lost] != NO_COVERAGE).all() and (t["dropped"][arrival < gone - 10 * compute_s] == SERVED).all()
    assert world.mobility.summary()["lost_no_coverage"] == lost.sum()
    assert max(world.energy._radio_active) == 0  # every radio start the lost requests made was closed


def test_random_waypoint_stays_in_its_area_at_the_theoretical_mean_speed():
    """Time-average speed of random waypoint: E[L] / (E[L] E[1/V] + pause), with E[L] = 0.5214 a for a square of
    side a (mean distance of two uniform points) and E[1/V] = ln(max/min)/(max - min). 200 devices for
    20,000 s are about 18,000 legs: the mean's standard error is under 1%; tolerance 3%."""
    side, (low, high), pause = 1000.0, (1.0, 5.0), 10.0
    model = RandomWaypoint(200, ((0.0, 0.0), (side, side)), (low, high), pause, np.random.default_rng(1))
    before, travelled, steps = model.positions.copy(), 0.0, 20_000
    for k in range(1, steps + 1):
        pos = model.move_to(float(k))
        assert (pos >= 0.0).all() and (pos <= side).all()
        travelled += np.hypot(*(pos - before).T).sum()
        before[:] = pos
    mean_leg = side * (2 + math.sqrt(2) + 5 * math.log(1 + math.sqrt(2))) / 15
    theory = mean_leg / (mean_leg * math.log(high / low) / (high - low) + pause)
    measured = travelled / (200 * steps)
    assert measured == pytest.approx(theory, rel=0.03)
    assert theory == pytest.approx(2.372, abs=1e-3)


def _city(seed: int = 2) -> dict:
    return {"name": "city", "seed": seed, "duration": "20min", "policy": {"name": "greedy-latency"},
            "sites": [{"name": f"s{i}", "position": [1500.0 * i, 0.0],
                       "cells": [{"name": f"s{i}-lte", "link": "lte", "radius": 900.0}]} for i in range(3)],
            "metro": [{"between": ["s0", "s1"], "bandwidth": "1Gbps", "rtt": "1ms"},
                      {"between": ["s1", "s2"], "bandwidth": "1Gbps", "rtt": "1ms"}],
            "fleet": [{"profile": "smartphone", "count": 30, "link": "lte",
                       "workload": {"kind": "poisson", "rate": "1/s", "deadline": "200ms"},
                       "mobility": {"kind": "random-waypoint", "area": [[-900, -900], [3900, 900]],
                                    "speed": [5, 20], "pause": "10s"}}],
            "federation": {"enabled": False}}


def test_same_seed_same_moves_and_results_bit_for_bit():
    a, b, other = _run(_city()), _run(_city()), _run(_city(seed=3))
    assert len(a.mobility.events) > 20 and a.mobility.events == b.mobility.events
    assert other.mobility.events != a.mobility.events
    ta, tb = a.table(), b.table()
    for column in REQUEST_COLUMNS:
        np.testing.assert_array_equal(ta[column], tb[column], err_msg=column)
    assert len(set(ta["cell"])) == 4  # three cells and out of coverage (-1)


def test_a_device_that_never_leaves_its_cell_runs_as_if_placed_there(tmp_path):
    """Mobility machinery with no move (a trace standing still in cell b) changes no request: the same table
    as the entry placed in b by `cell:`."""
    still = _street(tmp_path, [(0.0, 900.0)], policy={"name": "greedy-latency"})
    placed = copy.deepcopy(still)
    placed["fleet"][0].pop("mobility")
    placed["fleet"][0]["cell"] = "b"
    moving, fixed = _run(still), _run(placed)
    assert moving.mobility.events == [] and fixed.mobility is None
    a, b = moving.table(), fixed.table()
    assert set(a["cell"]) == {1}
    for column in REQUEST_COLUMNS:
        np.testing.assert_array_equal(a[column], b[column], err_msg=column)


def _mobile(tmp_path, **mobility) -> dict:
    data = _street(tmp_path, [(0.0, 0.0)])
    data["fleet"][0]["mobility"] = mobility
    return data


@pytest.mark.parametrize("change, field, message", [
    (lambda d: d["fleet"][0]["mobility"].pop("area"), "fleet[0].mobility", "random-waypoint needs `area:`"),
    (lambda d: d["fleet"][0]["mobility"].update(speed=[0, 2]), "fleet[0].mobility",
     "speed must be [min, max] m/s with 0 < min <= max"),
    (lambda d: d["fleet"][0]["mobility"].update(area=[[5, 0], [1, 1]]), "fleet[0].mobility", "x0 < x1 and y0 < y1"),
    (lambda d: d["fleet"][0]["mobility"].update(kind="teleport"), "fleet[0].mobility.kind",
     "must be one of 'random-waypoint' or 'trace', got 'teleport'"),
    (lambda d: d["fleet"][0]["mobility"].update(update="1ms"), "fleet[0].mobility", "update must be >= 0.01s"),
    (lambda d: d["fleet"][0].update(cell="a"), "fleet[0].cell", "a moving entry attaches by its position"),
    (lambda d: d["fleet"][0].update(link="lte"), "fleet[0].link", "no site has a 'lte' cell"),
    (lambda d: d.pop("sites"), "fleet[0].mobility", "devices move between the cells of `sites:`"),
])
def test_broken_mobility_is_one_line_naming_the_field(tmp_path, change, field, message):
    data = _mobile(tmp_path, kind="random-waypoint", area=[[0, 0], [100, 100]], speed=[1, 2])
    change(data)
    with pytest.raises(scenarios.ScenarioError) as error:
        scenarios.parse(data, "t.yaml")
    text = str(error.value)
    assert text.startswith(f"t.yaml: {field}: ") and message in text and "\n" not in text


@pytest.mark.parametrize("rows, message", [
    ("0,0,1,1\n", "position trace"),  # no header
    ("time_s,device,x,y\n0,1,0,0\n", "device 1 in the trace; the entry has devices 0..0"),
    ("time_s,device,x,y\n0,0,zero,0\n", "row 1 (line 2): x must be a finite distance in metres, got 'zero'"),
    ("time_s,device,x,y\n-1,0,0,0\n", "time_s must be a finite number >= 0"),
])
def test_a_broken_position_trace_names_its_row(tmp_path, rows, message):
    data = _street(tmp_path, [(0.0, 0.0)])
    (tmp_path / "walk.csv").write_text(rows)
    with pytest.raises(scenarios.ScenarioError) as error:
        scenarios.parse(data, "t.yaml")
    assert str(error.value).startswith("t.yaml: fleet[0].mobility") and message in str(error.value)


def test_a_trace_is_found_next_to_the_scenario_file_and_dumps_back(tmp_path):
    import yaml

    data = _street(tmp_path, [(0.0, 0.0), (10.0, 100.0)])
    data["fleet"][0]["mobility"]["file"] = "walk.csv"
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data))
    scenario = scenarios.load(tmp_path / "s.yaml")
    assert scenario.fleet[0].mobility.file == str((tmp_path / "walk.csv").resolve())
    assert scenarios.parse(yaml.safe_load(scenarios.dump(scenario)), "again") == scenario
    plain = yaml.safe_load(scenarios.dump(scenarios.parse(_city(), "c")))
    assert "file" not in plain["fleet"][0]["mobility"] and "mobility" in plain["fleet"][0]
