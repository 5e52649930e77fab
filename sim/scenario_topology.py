"""The `sites:`, `metro:` and `clouds:` sections of a scenario: edge sites with their server, cells and WAN
links, the metro links between them, the clouds the WANs reach (DESIGN.md, "Sites, cells, paths"). Without them
a scenario is one site (`edge:`) and one cloud (`cloud:`)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PlainSerializer

from sim import limits, scenario_outages
from sim.catalogue import CLOUD, EDGE_SERVER, WAN
from sim.limits import shown
from sim.scenario_outages import Outage, Timeouts  # noqa: F401  (sim.scenario reads them from here)
from sim.scenario_types import Bitrate, Duration, Strict

MAX_SITES = 1000  # a site is a server, its cells and its WAN: a metro area has tens to hundreds


def _metres(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a distance in metres (a number), got {shown(value)}")
    if not abs(value) < 1e8:  # NaN fails this too
        raise ValueError(f"must be a finite distance under 100,000 km, got {shown(value)}")
    return float(value)


Metres = Annotated[float, BeforeValidator(_metres), PlainSerializer(float, return_type=float)]


class SiteServer(Strict):  # defaults: the catalogue's edge server (sim/catalogue/servers.yaml)
    cores: int = Field(default=EDGE_SERVER.cores, ge=1, le=limits.MAX_CORES)
    speed: float = Field(default=EDGE_SERVER.core_flops_per_s, gt=0, description="FLOP/s per core")


class WanLink(Strict):  # defaults: the catalogue's WAN
    up: Bitrate = WAN.up_bps
    down: Bitrate = WAN.down_bps
    rtt: Duration = Field(default=WAN.rtt_s, description="site <-> cloud round trip")
    cloud: str | None = Field(default=None, exclude_if=lambda v: v is None, description=(
        "with `clouds:`, the cloud this link reaches (default: the first one; each link of a list names its own)"))


class CloudConfig(Strict):  # defaults: the catalogue's cloud
    """One cloud of `clouds:`: a data centre's servers, reached over the sites' WAN links."""

    name: str = Field(min_length=1, max_length=200)
    cores: int = Field(default=CLOUD.cores, ge=1, le=limits.MAX_CORES)
    speed: float = Field(default=CLOUD.core_flops_per_s, gt=0, description="FLOP/s per core")
    position: tuple[Metres, Metres] | None = Field(default=None, exclude_if=lambda v: v is None,
                                                   description="metres, kept in topology.json (routes do not use it)")


class CellConfig(Strict):
    name: str = Field(min_length=1, max_length=200)
    link: str = Field(description="the link kind (catalogue `links:` name) of this access network")
    position: tuple[Metres, Metres] | None = Field(default=None, description="metres; default: the site's")
    radius: Metres = Field(default=1000.0, gt=0, description="coverage radius in metres")


class SiteConfig(Strict):
    name: str = Field(min_length=1, max_length=200)
    position: tuple[Metres, Metres] = (0.0, 0.0)
    server: SiteServer = SiteServer()
    wan: WanLink | list[WanLink] = Field(default=WanLink(), description=(
        "the link to the cloud, or with `clouds:` a list of links, one per cloud the site reaches"))
    cells: list[CellConfig] = Field(min_length=1, max_length=1000)

    def wan_links(self, clouds: list[str]) -> list[tuple[int, WanLink]]:
        """This site's WAN links, each with the index in `clouds` (names) of the cloud it reaches (a link
        naming none: the first); the scenario check has made sure the names are known."""
        links = self.wan if isinstance(self.wan, list) else [self.wan]
        return [(clouds.index(link.cloud) if link.cloud is not None else 0, link) for link in links]


class MetroLink(Strict):
    between: tuple[str, str]
    bandwidth: Bitrate = Field(description="each direction is a shared link of this rate")
    rtt: Duration


class Forwarding(Strict):
    """Edge-side orchestration: a site may pass a request it received to another site, once."""

    kind: Literal["none", "least-loaded", "threshold"] = Field(default="none", description=(
        "least-loaded: to the site expected to finish it first, metro hops included, whenever that is not this "
        "one; threshold: the same, but only when this site's queue wait exceeds `threshold`"))
    threshold: Duration = Field(default=0.05, description="threshold: queue wait above which a site forwards")


def check(scenario: Any) -> tuple[str, str] | None:
    """The first (field path, problem) of a sim.scenario.Scenario's topology names and wiring, or None.

    (Typed Any: the Scenario model holds these sections, and a type import back would be an import cycle.)"""
    sites = scenario.sites
    # clouds first: the outages' component names include the WAN links' clouds
    problem = _check_clouds(scenario) or scenario_outages.check(scenario)
    if problem is not None:
        return problem
    if scenario.forwarding.kind != "none" and len(sites) < 2:
        return "forwarding.kind", f"{scenario.forwarding.kind!r} forwards between edge sites: declare two or more " \
                                  "`sites:` (or use 'none')"
    site = scenario.policy.params.get("site", -1) if scenario.policy.name == "edge" else -1
    if isinstance(site, (int, float)) and not isinstance(site, bool) and site >= max(1, len(sites)):
        names = ", ".join(f"{i} ({s.name})" for i, s in enumerate(sites)) or "0 (the one edge server)"
        return "policy.params.site", f"no site {site:g}; allowed: -1 (the device's own), {names}"
    if not sites:
        for i, group in enumerate(scenario.fleet):
            if group.site is not None or group.cell is not None:
                key = "site" if group.site is not None else "cell"
                return f"fleet[{i}].{key}", "names a site or cell, but the scenario declares no `sites:`"
        if scenario.metro:
            return "metro", "metro links join sites: declare `sites:` first"
        return None
    if len(sites) > MAX_SITES:
        return "sites", f"at most {MAX_SITES:,} sites, got {len(sites):,}"
    if scenario.edge != type(scenario.edge)():  # a resolved scenario.yaml has the default `edge:`
        return "edge", "with `sites:` each site has its own `server:`; drop `edge:`"
    site_names, cell_names = {}, {}
    for s, site in enumerate(sites):
        if site.name in site_names:
            return f"sites[{s}].name", f"{shown(site.name)} names two sites"
        site_names[site.name] = s
        for c, cell in enumerate(site.cells):
            if cell.name in cell_names:
                return f"sites[{s}].cells[{c}].name", f"{shown(cell.name)} names two cells"
            cell_names[cell.name] = (s, cell.link)
            known = scenario.known_links()
            if cell.link not in known:
                return f"sites[{s}].cells[{c}].link", f"unknown link {shown(cell.link)}; allowed: {', '.join(known)}"
    for m, metro in enumerate(scenario.metro):
        for end in metro.between:
            if end not in site_names:
                return f"metro[{m}].between", f"unknown site {shown(end)}; allowed: {', '.join(site_names)}"
        if metro.between[0] == metro.between[1]:
            return f"metro[{m}].between", "a metro link joins two different sites"
    unreached = _unreached(list(site_names), [m.between for m in scenario.metro])
    if unreached:
        return "metro", f"every site must be reachable over the metro; not from {shown(sites[0].name)}: " \
                        f"{', '.join(map(shown, unreached))}"
    return _check_fleet(scenario, site_names, cell_names)


def _check_clouds(scenario: Any) -> tuple[str, str] | None:
    """The first problem of `clouds:` and of the clouds the sites' WAN links name."""
    clouds = scenario.clouds
    names = [cloud.name for cloud in clouds or []]
    if clouds is not None:
        if not clouds:
            return "clouds", "an empty list declares no cloud: name at least one, or drop `clouds:` (the one `cloud:`)"
        if not scenario.sites:
            return "clouds", "clouds are reached over the sites' WAN links: declare `sites:` first"
        if scenario.cloud != type(scenario.cloud)():  # a resolved scenario.yaml has the default `cloud:`
            return "cloud", "with `clouds:` each cloud has its own cores and speed, each site its `wan:`; drop `cloud:`"
        for c, name in enumerate(names):
            if name in names[:c]:
                return f"clouds[{c}].name", f"{shown(name)} names two clouds"
    for s, site in enumerate(scenario.sites):
        links = site.wan if isinstance(site.wan, list) else [site.wan]
        for w, link in enumerate(links):
            where = f"sites[{s}].wan" + (f"[{w}]" if isinstance(site.wan, list) else "")
            if clouds is None and (link.cloud is not None or isinstance(site.wan, list)):
                return where, "names a cloud, or lists WAN links, but the scenario declares no `clouds:`"
            if clouds is None:
                continue
            if link.cloud is None and isinstance(site.wan, list):
                return f"{where}.cloud", f"each link of a list names the cloud it reaches; allowed: {', '.join(names)}"
            if link.cloud is not None and link.cloud not in names:
                return f"{where}.cloud", f"unknown cloud {shown(link.cloud)}; allowed: {', '.join(names)}"
            if link.cloud in [other.cloud for other in links[:w]]:
                return f"{where}.cloud", f"{shown(link.cloud)} is reached twice from site {shown(site.name)}"
        if not links:
            return f"sites[{s}].wan", "an empty list reaches no cloud: give one link per cloud the site reaches"
    return None


def _check_fleet(scenario: Any, site_names: dict, cell_names: dict) -> tuple[str, str] | None:
    for i, group in enumerate(scenario.fleet):
        if group.cell is not None:
            if group.cell not in cell_names:
                return f"fleet[{i}].cell", f"unknown cell {shown(group.cell)}; allowed: {', '.join(cell_names)}"
            site, link = cell_names[group.cell]
            if link != group.link:
                return f"fleet[{i}].cell", f"cell {shown(group.cell)} is a {link} cell, the entry's link is " \
                                           f"{shown(group.link)}"
            if group.site is not None and group.site != scenario.sites[site].name:
                return f"fleet[{i}].site", f"cell {shown(group.cell)} belongs to site " \
                                           f"{shown(scenario.sites[site].name)}, not {shown(group.site)}"
            continue
        if group.mobility is not None:  # attaches by its position (sim.scenario_mobility checks the entry)
            continue
        if group.site is None and len(scenario.sites) > 1:
            return f"fleet[{i}]", f"with several sites, name the entry's `site:` or `cell:`; sites: " \
                                  f"{', '.join(site_names)}"
        name = group.site if group.site is not None else scenario.sites[0].name
        if name not in site_names:
            return f"fleet[{i}].site", f"unknown site {shown(name)}; allowed: {', '.join(site_names)}"
        kinds = [c.link for c in scenario.sites[site_names[name]].cells]
        if group.link not in kinds:
            return f"fleet[{i}].link", f"site {shown(name)} has no {shown(group.link)} cell; its cells' links: " \
                                       f"{', '.join(dict.fromkeys(kinds))}"
    return None


def _unreached(names: list[str], edges: list[tuple[str, str]]) -> list[str]:
    """The sites that the first one cannot reach over the metro links."""
    neighbours: dict[str, set[str]] = {n: set() for n in names}
    for a, b in edges:
        neighbours[a].add(b)
        neighbours[b].add(a)
    seen, stack = {names[0]}, [names[0]]
    while stack:
        for there in neighbours[stack.pop()] - seen:
            seen.add(there)
            stack.append(there)
    return [n for n in names if n not in seen]

