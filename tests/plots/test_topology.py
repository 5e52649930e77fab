"""The topology figures (map, per-site load, outage and handover timeline) drawn from a small real run: each
renders, shows what its files hold, and the files agree with summary.json."""
from __future__ import annotations

import json
import shutil

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pyarrow.parquet as pq
import pytest
from matplotlib.patches import Circle

from plots import render_run
from plots.report import write_report
from plots.rundir import outage_windows, read_csv
from plots.site_load import busy_share_series, draw_site_load, request_counts, sample_share
from plots.timeline import coverage_series, draw_incident_timeline
from plots.topology import MAX_TRACES, draw_topology_map, topology_figures
from sim import scenario as scenarios
from sim.app.runner import collect, write_run
from sim.world import World

SITES = (("west", 0.0), ("mid", 1500.0), ("east", 3000.0))
OUTAGE = (300.0, 600.0)  # mid is down from 5 to 10 min


def small_city(**changes) -> dict:
    """Three sites on a metro line, an LTE and a WiFi cell each; 20 phones moving across all three, 6 Pis on
    west's WiFi; west's server one slow core (least-loaded forwarding passes its requests on); mid's server
    down for 5 minutes."""
    data = {"name": "small-city", "seed": 3, "duration": "15min", "policy": {"name": "edge"},
            "sites": [{"name": n, "position": [x, 0.0], "server": {"cores": 2, "speed": 5.0e+8},
                       "cells": [{"name": f"{n}-lte", "link": "lte", "radius": 900.0},
                                 {"name": f"{n}-wifi", "link": "wifi", "radius": 100.0}]} for n, x in SITES],
            "metro": [{"between": ["west", "mid"], "bandwidth": "1Gbps", "rtt": "1ms"},
                      {"between": ["mid", "east"], "bandwidth": "1Gbps", "rtt": "1ms"}],
            "forwarding": {"kind": "least-loaded"},
            "outages": [{"server": "mid", "at": f"{OUTAGE[0]:g}s", "for": f"{OUTAGE[1] - OUTAGE[0]:g}s"}],
            "fleet": [{"profile": "smartphone", "count": 20, "link": "lte",
                       "workload": {"kind": "poisson", "rate": "6/min", "deadline": "250ms"},
                       "mobility": {"kind": "random-waypoint", "area": [[-800.0, -600.0], [3800.0, 600.0]],
                                    "speed": [5.0, 20.0], "update": "2s"}},
                      {"profile": "raspberry-pi-4", "count": 6, "link": "wifi", "site": "west",
                       "workload": {"kind": "periodic", "rate": "2/min", "deadline": "100ms"}}],
            "federation": {"enabled": False, "pretrain": {"rounds": 0}}}
    data["sites"][0]["server"] = {"cores": 1, "speed": 5.0e+7}
    data.update(changes)
    return data


def simulate(data: dict, out):
    """Run the world and write its run directory (no forecast scoring: the figures do not need it)."""
    world = World(scenarios.parse(data, "small.yaml"))
    world.run()
    write_run(collect(world, [], [], []), out, plots=False)
    return world


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    out = tmp_path_factory.mktemp("topology") / "small-city"
    world = simulate(small_city(), out)
    return out, world


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _not_blank(png) -> None:
    assert png.exists() and png.stat().st_size > 5000, png
    assert mpimg.imread(png).std() > 0.05, png


@pytest.mark.slow  # the city fixture and its figures: 5 s
def test_every_topology_figure_renders_a_png(city):
    run_dir, _ = city
    pngs = render_run(run_dir)
    stems = {p.stem for p in pngs}
    assert set(topology_figures()) <= stems
    for png in pngs:
        if png.stem in topology_figures():
            _not_blank(png)
            assert png.with_suffix(".pdf").stat().st_size > 1000


def test_the_map_shows_every_site_cell_and_tracked_device(city):
    run_dir, _ = city
    ax = draw_topology_map(run_dir).axes[0]
    sites = [c for c in ax.collections if len(c.get_offsets())]
    assert len(sites) == 1 and len(sites[0].get_offsets()) == len(SITES)
    assert np.allclose(sites[0].get_offsets(), [[x, 0.0] for _, x in SITES])
    circles = [p for p in ax.patches if isinstance(p, Circle)]
    assert sorted(c.radius for c in circles) == [100.0] * 3 + [900.0] * 3
    tracked = len(np.unique(read_csv(run_dir, "positions.csv")["device"]))
    assert tracked == 20 and len([line for line in ax.lines if line.get_label() == "_trace"]) == MAX_TRACES == 16
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == "edge site (3)" and "metro link" in labels
    assert {"lte cell coverage", "wifi cell coverage"} <= set(labels)
    assert "smartphone on lte: 16 of 20 moving, 15 min trace and end" in labels


def test_handovers_csv_matches_the_summary(city):
    run_dir, world = city
    summary = json.loads((run_dir / "summary.json").read_text())["mobility"]
    rows = read_csv(run_dir, "handovers.csv", floats=("time_s",), strings=("from_cell", "to_cell"))
    cell_to_cell = (rows["from_cell"] != "") & (rows["to_cell"] != "")
    assert summary["handovers"] > 20 and int(cell_to_cell.sum()) == summary["handovers"]
    assert len(rows["time_s"]) == len(world.mobility.events)
    # out-of-coverage seconds from the file's coverage events equal the summary's (steps of 2 s)
    times, out = coverage_series(rows, json.loads((run_dir / "topology.json").read_text())["out_of_coverage_at_start"])
    spans = np.diff(np.append(times, world.duration_s))
    assert float(np.sum(out * spans)) == pytest.approx(summary["out_of_coverage_s"])


def test_positions_are_a_bounded_sample_over_the_whole_run(tmp_path):
    """300 moving phones, an hour at 1 s steps: 40 devices are tracked, each at most 401 times, end to end."""
    data = small_city(duration="1h", outages=[])
    data["fleet"][0] |= {"count": 300, "workload": {"kind": "poisson", "rate": "1/h", "deadline": "250ms"}}
    data["fleet"][0]["mobility"]["update"] = "1s"
    world = simulate(data, tmp_path / "run")
    track = read_csv(tmp_path / "run", "positions.csv", floats=("time_s", "x_m", "y_m"))
    devices = np.unique(track["device"])
    assert len(devices) == 40 and len(track["time_s"]) <= 40 * 401
    assert track["time_s"].min() == 0.0 and track["time_s"].max() >= world.duration_s - 10.0
    assert devices.tolist() == [k * 300 // 40 for k in range(40)]  # evenly spread, not the first 40


def test_site_load_busy_time_agrees_with_the_servers(city):
    """Compute seconds of the requests served at each site (requests.parquet) against each server's own busy
    seconds (topology.json): equal up to requests admitted but never served (reply lost, still running)."""
    run_dir, world = city
    doc = json.loads((run_dir / "topology.json").read_text())
    table = pq.read_table(run_dir / "requests.parquet").to_pandas()
    served = table[table["dropped"] == "served"]
    edges, busy = busy_share_series({c: served[c].to_numpy() for c in ("arrival_s", "site", "compute_s")}, doc, 1.0)
    for k, site in enumerate(doc["sites"]):
        from_rows = float(np.sum(busy[k] * site["cores"] * np.diff(edges)))
        assert from_rows == pytest.approx(site["busy_s"], rel=0.02), site["name"]
        assert site["busy_s"] == world.topology.sites[k].server.busy_s
    mid = busy[1][(edges[:-1] >= OUTAGE[0]) & (edges[1:] <= OUTAGE[1])]
    assert len(mid) and np.all(mid == 0.0)  # nothing is served at mid while it is down
    assert sample_share(run_dir) == 1.0


def test_site_load_counts_forwarded_requests(city):
    run_dir, _ = city
    fig = draw_site_load(run_dir)
    counts_ax = fig.axes[2]
    table = pq.read_table(run_dir / "requests.parquet").to_pandas()
    served = table[table["dropped"] == "served"]
    direct, forwarded_in, forwarded_out = request_counts({c: served[c].to_numpy() for c in ("site", "forwarded")}, 3)
    assert forwarded_in.sum() == forwarded_out.sum() == int((served["forwarded"] >= 0).sum()) > 0
    bars = {c.get_label(): [p.get_width() for p in c.patches] for c in counts_ax.containers}
    assert bars["served, received directly"] == direct.tolist()
    assert bars["served, forwarded here"] == forwarded_in.tolist()
    assert bars["forwarded on to another site"] == forwarded_out.tolist()
    assert len(fig.axes[0].lines) == 3


def test_timeline_draws_each_outage_window_and_prefers_outages_csv(city, tmp_path):
    run_dir, _ = city
    assert outage_windows(run_dir) == [("server:mid", "scheduled", *OUTAGE)]
    fig = draw_incident_timeline(run_dir)
    outage_ax = fig.axes[0]
    bars = [c for c in outage_ax.collections]
    assert len(bars) == 1 and [t.get_text() for t in outage_ax.get_yticklabels()] == ["server:mid"]
    x0, width = bars[0].get_paths()[0].vertices[:, 0].min(), np.ptp(bars[0].get_paths()[0].vertices[:, 0])
    assert (x0, x0 + width) == pytest.approx((OUTAGE[0] / 60, OUTAGE[1] / 60))  # minutes on a 15 min run
    lost_labels = [t.get_text() for t in fig.axes[-1].get_legend().get_texts()]
    assert any(label.startswith("timeout (") for label in lost_labels)
    copy = tmp_path / "with-csv"
    shutil.copytree(run_dir, copy)
    (copy / "outages.csv").write_text("component,kind,start_s,end_s\nwan:west,random,100,200\n"
                                      "server:mid,scheduled,300,600\nwan:west,random,700,750\n")
    assert outage_windows(copy) == [("wan:west", "random", 100.0, 200.0), ("server:mid", "scheduled", 300.0, 600.0),
                                    ("wan:west", "random", 700.0, 750.0)]
    outage_ax = draw_incident_timeline(copy).axes[0]
    assert [t.get_text() for t in outage_ax.get_yticklabels()] == ["wan:west", "server:mid"]
    assert len(outage_ax.collections) == 3
    assert sorted(t.get_text() for t in outage_ax.get_legend().get_texts()) == ["random outage", "scheduled outage"]


def test_a_run_without_sites_mobility_or_outages_writes_no_topology_files(tmp_path):
    data = small_city(sites=[], metro=[], outages=[], forwarding={"kind": "none"},
                      fleet=[{"profile": "raspberry-pi-4", "count": 2, "link": "wifi",
                              "workload": {"kind": "periodic", "rate": "2/min", "deadline": "100ms"}}])
    simulate(data, tmp_path / "plain")
    assert not any((tmp_path / "plain" / name).exists() for name in ("topology.json", "positions.csv",
                                                                      "handovers.csv"))
    assert all(draw(tmp_path / "plain") is None for draw in topology_figures().values())


@pytest.mark.slow  # the city fixture and its figures: 5 s
def test_the_comparison_report_carries_the_topology_figures(city, tmp_path):
    run_dir, _ = city
    other = tmp_path / "runs" / "small-city-b"
    shutil.copytree(run_dir, other)
    markdown, page = write_report([run_dir, other], tmp_path / "cmp")
    text = markdown.read_text()
    assert "![topology_map](plots/topology_map.png)" in text
    assert "](plots/site_load_small-city" in text
    assert "incident_timeline" in text and page.read_text().count("data:image/png") >= 3
