"""What the topology figures need, taken from a finished world: topology.json (sites, cells, metro, servers'
busy time, who starts where), positions.csv (a bounded sample of moving devices' traces) and handovers.csv
(cell changes and coverage losses, bounded). Written only for scenarios with sites, mobility or outages."""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sim.app.output import write_csv, write_json
from sim.topology import NO_CELL
from sim.world import World

# a day of thousands of moving phones makes a few hundred thousand cell changes; beyond this many rows the
# file keeps the first ones and topology.json says how many there were
MAX_HANDOVER_ROWS = 200_000
POSITION_COLUMNS = ["time_s", "device", "x_m", "y_m", "cell"]
HANDOVER_COLUMNS = ["time_s", "device", "from_cell", "to_cell"]


@dataclass
class TopologyFiles:
    document: dict
    positions: list[dict] = field(default_factory=list)
    handovers: list[dict] = field(default_factory=list)


def wanted(world: World) -> bool:
    scenario = world.scenario
    return bool(scenario.sites or scenario.outages or world.mobility is not None)


def _metres(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None  # the single-site world's cells cover everything


def _cells(world: World) -> list[dict]:
    moving = {g for g, group in enumerate(world.scenario.fleet) if group.mobility is not None}
    # where the static devices are (they never move); moving ones are in `moving` and positions.csv
    static = Counter((world.topology.cell[d.index], d.profile.name) for d in world.devices if d.group not in moving)
    return [{"name": c.name, "site": c.site, "link": c.link.name, "x_m": c.position[0], "y_m": c.position[1],
             "radius_m": _metres(c.radius_m),
             "static_devices": {p: n for (cell, p), n in sorted(static.items()) if cell == c.index}}
            for c in world.topology.cells]


def document(world: World) -> dict:
    """topology.json: the network as built, each server's busy seconds, and what the other files hold."""
    scenario, topology = world.scenario, world.topology
    sites = [{"name": s.name, "x_m": s.position[0], "y_m": s.position[1], "cores": s.server.cores,
              "compute_s": s.compute_s, "busy_s": s.server.busy_s, "wan_rtt_s": s.wan_rtt_s}
             for s in topology.sites]
    metro = [{"between": list(m.between), "bandwidth_bps": m.bandwidth, "rtt_s": m.rtt} for m in scenario.metro]
    moving = [{"group": g, "profile": group.profile, "link": group.link, "count": group.count,
               "kind": group.mobility.kind,
               "area_m": [list(corner) for corner in group.mobility.area] if group.mobility.area else None}
              for g, group in enumerate(scenario.fleet) if group.mobility is not None]
    mobility = world.mobility
    doc = {"duration_s": world.duration_s, "sites_declared": bool(scenario.sites), "sites": sites,
           "cells": _cells(world), "metro": metro, "cloud": {"cores": topology.cloud_server.cores,
                                                             "busy_s": topology.cloud_server.busy_s},
           "forwarding": scenario.forwarding.kind, "moving": moving}
    if scenario.clouds is not None:  # which cloud each site's cloud requests go to (sim.topology.nearest_wan)
        doc["clouds"] = [{"name": c.name, "x_m": c.position[0] if c.position else None,
                          "y_m": c.position[1] if c.position else None, "cores": c.server.cores,
                          "busy_s": c.server.busy_s} for c in topology.clouds]
        for entry, site in zip(sites, topology.sites):
            entry["cloud"] = topology.clouds[site.cloud].name
    if mobility is not None:
        doc |= {"tracked_devices": len({row[1] for row in mobility.track}), "track_points": len(mobility.track),
                "out_of_coverage_at_start": mobility.out_at_start, "handover_events": len(mobility.events),
                "handover_rows_written": min(len(mobility.events), MAX_HANDOVER_ROWS)}
    return doc


def collect(world: World) -> TopologyFiles | None:
    """The three files' contents (None when the scenario has neither sites, mobility nor outages)."""
    if not wanted(world):
        return None
    mobility = world.mobility
    if mobility is None:
        return TopologyFiles(document(world))
    names = [c.name for c in world.topology.cells]

    def cell(index: int) -> str:
        return "" if index == NO_CELL else names[index]  # empty: out of coverage

    positions = [{"time_s": t, "device": d, "x_m": round(x, 2), "y_m": round(y, 2), "cell": cell(c)}
                 for t, d, x, y, c in mobility.track]
    handovers = [{"time_s": t, "device": d, "from_cell": cell(a), "to_cell": cell(b)}
                 for t, d, a, b in mobility.events[:MAX_HANDOVER_ROWS]]
    return TopologyFiles(document(world), positions, handovers)


def write(files: TopologyFiles | None, folder: Path) -> None:
    if files is None:
        return
    write_json(folder / "topology.json", files.document)
    if "track_points" in files.document:
        write_csv(folder / "positions.csv", files.positions, POSITION_COLUMNS)
        write_csv(folder / "handovers.csv", files.handovers, HANDOVER_COLUMNS)
