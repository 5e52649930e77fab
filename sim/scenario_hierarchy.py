"""The `federation.hierarchy:` section: hierarchical FL (client -> edge site -> cloud, HierFAVG) and the
edge sites' model caches (DESIGN.md, "Federation levels"). Without it federation is flat, as it always was."""
from __future__ import annotations

from typing import Any

from pydantic import Field

from sim.scenario_types import Strict

MAX_EDGE_ROUNDS_PER_CLOUD = 1000


class Hierarchy(Strict):
    edge_rounds_per_cloud: int = Field(ge=1, le=MAX_EDGE_ROUNDS_PER_CLOUD,
                                       description="k: the cloud aggregates the sites' models every k edge rounds")


def check(scenario: Any) -> tuple[str, str] | None:
    """The first (field path, problem) of a scenario's hierarchy and edge cache, or None (typed Any: no import cycle)."""
    fed = scenario.federation
    if fed.edge_cache and not scenario.sites:
        return "federation.edge_cache", "sites cache the global model for their devices: declare `sites:`"
    if fed.hierarchy is None:
        return None
    where = "federation.hierarchy"
    if not scenario.sites:
        return where, "sites aggregate their own devices' updates: declare `sites:`"
    if fed.selection != "random":
        return "federation.selection", f"hierarchical FL selects at random within each site, got {fed.selection!r}"
    for i, group in enumerate(scenario.fleet):
        if group.mobility is not None:
            return f"fleet[{i}].mobility", "hierarchical FL keeps each device at its site: drop `mobility:`"
    return None
