"""scenarios/metro-city.yaml: what the issue asks of it, and a shortened copy run end to end into the
topology figures (the full day takes minutes: docs/topology.md has its numbers)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from plots.rundir import read_csv
from plots.topology import draw_topology_map, topology_figures
from sim import scenario as scenarios
from sim.app.runner import collect, write_run
from sim.world import World

ROOT = Path(__file__).resolve().parents[2]
PATH = ROOT / "scenarios" / "metro-city.yaml"


def test_metro_city_is_what_the_issue_asks_for():
    scenario = scenarios.load(PATH)
    assert len(scenario.sites) >= 8 and scenario.device_count >= 2000 and scenario.duration == 86400.0
    kinds = {cell.link for site in scenario.sites for cell in site.cells}
    assert {"wifi", "lte", "5g"} <= kinds
    assert len({group.profile for group in scenario.fleet}) >= 4
    moving = [g for g in scenario.fleet if g.mobility is not None]
    assert moving and all(g.profile == "smartphone" and g.mobility.kind == "random-waypoint" for g in moving)
    assert [o.name for o in scenario.outages] == ["server:station", "wan:market"] and scenario.forwarding.kind != "none"


@pytest.mark.slow
def test_a_shortened_metro_city_writes_every_topology_figure(tmp_path):
    """The whole fleet for 20 minutes, the station outage moved to minutes 5-10: every figure draws, the map
    shows the nine sites, and handovers.csv holds exactly the summary's handovers."""
    data = yaml.safe_load(PATH.read_text())
    data["duration"] = "20min"
    data["outages"] = [{"server": "station", "at": "5min", "for": "5min"}]
    world = World(scenarios.parse(data, str(PATH)))
    world.run()
    out = tmp_path / "metro-city"
    write_run(collect(world, [], [], []), out, plots=False)
    for draw in topology_figures().values():
        png = draw(out)
        assert png is not None and png.stat().st_size > 5000
    ax = draw_topology_map(out).axes[0]
    assert len(ax.collections[0].get_offsets()) == 9
    summary = json.loads((out / "summary.json").read_text())
    rows = read_csv(out, "handovers.csv", strings=("from_cell", "to_cell"))
    assert int(((rows["from_cell"] != "") & (rows["to_cell"] != "")).sum()) == summary["mobility"]["handovers"] > 0
    track = read_csv(out, "positions.csv")
    assert len(np.unique(track["device"])) == 40 and len(track["device"]) <= 40 * 401
    assert summary["outages"]["timeouts"] > 0
