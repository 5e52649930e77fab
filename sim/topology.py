"""Sites, cells and the paths between them: where each device is attached and how its requests travel.

A site is an edge location with a server; a cell is an access network of one link kind at a site, its
uplink and downlink shared by the devices attached to it; metro links join sites; every site reaches the
cloud over its own WAN link, or with `clouds:` each cloud it has a WAN link to; its requests for the cloud go to
the one reached soonest (nearest_wan). A request's route is a tuple (server, compute s, uplink hops, downlink hops,
round trip s, site) computed once per (cell, target) and kept per device, so the request path reads one
list entry. A scenario without `sites:` is one site holding one cell per fleet entry and one WAN: the
topology edgefed had before sites existed, link names and order included.

Edge-side forwarding (`forwarding:`): a site that receives a request may pass it on, once, to the site
expected to finish it first. Sites are assumed to know each other's queues exactly (orchestrators that
exchange load over the metro, the exchange itself not modelled); devices never see that state.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from sim.calendar import Calendar
from sim.catalogue import EDGE_SERVER, LinkProfile, ServerProfile
from sim.fleet import Fleet
from sim.network import SharedLink  # the first kind of sim.protocols.Link
from sim.protocols import FailingLink, Server
from sim.policies.base import FIRST_SITE
from sim.policies.observation import site_floor_s
from sim.scenario import Scenario
from sim.servers import FifoServer

CLOUD_SITE = -1  # the `site` of a request served locally or in the cloud
NO_CELL = -1  # the `cell` of a device out of coverage (sim.mobility)


def cloud_site(cloud: int) -> int:
    """The `site` of cloud `cloud`'s route: -1, -2, ... (negative: not an edge site), so Outages.down[-1 - k]
    is cloud k's server after the edge sites' (the one cloud of a scenario without `clouds:`: CLOUD_SITE)."""
    return CLOUD_SITE - cloud


@dataclass
class Cloud:
    index: int
    name: str
    position: tuple[float, float] | None
    server: Server
    compute_s: float  # one inference of the served model on one core


@dataclass
class Site:
    index: int
    name: str
    position: tuple[float, float]
    server: Server  # a FifoServer today
    compute_s: float  # one inference of the served model on one core
    power: ServerProfile  # idle and full-load power (LEAF's linear model)
    wan_up: FailingLink  # the WAN link to `cloud`, the one its requests for the cloud take
    wan_down: FailingLink
    wan_rtt_s: float
    cloud: int = 0
    wans: list[tuple[int, FailingLink, FailingLink, float]] = field(default_factory=list)  # (cloud, up, down, rtt)


@dataclass
class Cell:
    index: int
    name: str
    site: int
    link: LinkProfile
    up: FailingLink
    down: FailingLink
    position: tuple[float, float]
    radius_m: float


@dataclass
class Metro:
    """The directed metro hops out of each site: {neighbour: (link, rtt s)}."""

    out: list[dict[int, tuple[FailingLink, float]]] = field(default_factory=list)


class Topology:
    """The network of one world: sites, cells, metro and WAN links, the cloud, and each device's routes."""

    def __init__(self, scenario: Scenario, calendar: Calendar, fleet: Fleet, server_flops: float,
                 request_bits: tuple[float, float] = (0.0, 0.0)):
        # request_bits: a request's and its reply's bits, for choosing each site's cloud (nearest_wan)
        self.clouds = self._build_clouds(scenario, server_flops)
        self.cloud_server, self.cloud_compute_s = self.clouds[0].server, self.clouds[0].compute_s  # the first one
        self.sites: list[Site] = []
        self.cells: list[Cell] = []
        self.metro = Metro()
        if scenario.sites:
            self._build_sites(scenario, calendar, server_flops, request_bits)
        else:
            self._build_single_site(scenario, calendar, server_flops)
        n_sites = len(self.sites)
        self._paths = [self._shortest_paths(s) for s in range(n_sites)]
        # per device: its cell, its access links, its routes by target, the queue it last heard of per site
        self.cell = [self._cell_of(scenario, d.group, d.link) for d in fleet.devices]
        self.home_site = [self.cells[c].site for c in self.cell]
        self.up_link = [self.cells[c].up for c in self.cell]
        self.down_link = [self.cells[c].down for c in self.cell]
        self._access_rtt_s = fleet.access_rtt_s
        self._routes_of_cell: dict[tuple[int, float], list] = {}  # (cell, access RTT): routes, built on a move
        # devices in one cell with one access RTT share one routes list (built once, not once a device)
        self.routes = [self._shared_routes(c, fleet.access_rtt_s[d]) for d, c in enumerate(self.cell)]
        self._estimates: dict[int, tuple] = {}  # id of a shared routes list: its sites' rtt, compute, slowest hop
        self.wait_seen = [[0.0] * n_sites for _ in fleet.devices]
        self.forwarding = scenario.forwarding.kind
        self.forward_threshold_s = 0.0 if self.forwarding == "least-loaded" else scenario.forwarding.threshold

    def forward_candidates(self, request_bits: float) -> list[list[tuple]]:
        """Per site h, the sites it may forward to: (site, server, compute s, metro s, up hops, down hops, rtt)
        where metro s is the request and reply over the path at its slowest hop's rate plus the round trip."""
        out = []
        for h in range(len(self.sites)):
            candidates = []
            for k, site in enumerate(self.sites):
                route = self._site_route(h, k, 0.0)
                if k == h or route is None:
                    continue
                _, _, up, down, rtt, _ = route
                slowest = min(link.bytes_per_s * 8.0 for link in up)
                candidates.append((k, site.server, site.compute_s, request_bits / slowest + rtt, up, down, rtt))
            out.append(candidates)
        return out

    # --- building -------------------------------------------------------------------------------
    @staticmethod
    def _build_clouds(scenario: Scenario, server_flops: float) -> list[Cloud]:
        """The clouds of `clouds:`, or the one of `cloud:`."""
        if scenario.clouds is None:
            cloud = scenario.cloud
            return [Cloud(0, "cloud", None, FifoServer(cloud.cores), server_flops / cloud.speed)]
        return [Cloud(k, spec.name, tuple(spec.position) if spec.position is not None else None,
                      FifoServer(spec.cores), server_flops / spec.speed) for k, spec in enumerate(scenario.clouds)]

    def _build_single_site(self, scenario: Scenario, calendar: Calendar, server_flops: float) -> None:
        """Today's world: one edge server, a cell per fleet entry (named profile/link), one shared WAN."""
        cloud, edge = scenario.cloud, scenario.edge
        wan_up = SharedLink(calendar, cloud.wan_up, "wan/up")
        wan_down = SharedLink(calendar, cloud.wan_down, "wan/down")
        self.sites.append(Site(0, "edge", (0.0, 0.0), FifoServer(edge.cores), server_flops / edge.speed, EDGE_SERVER,
                               wan_up, wan_down, cloud.wan_rtt, 0, [(0, wan_up, wan_down, cloud.wan_rtt)]))
        self.metro.out.append({})
        for g, group in enumerate(scenario.fleet):
            link = scenario.link_profile(group.link)
            name = f"{group.profile}/{link.name}"
            if any(cell.name == name for cell in self.cells):  # two entries alike still have two cells: say which
                name = f"{name}#{g}"
            self.cells.append(Cell(g, name, 0, link, SharedLink(calendar, link.up_bps, f"{name}/up"),
                                   SharedLink(calendar, link.down_bps, f"{name}/down"), (0.0, 0.0), float("inf")))

    def _build_sites(self, scenario: Scenario, calendar: Calendar, server_flops: float,
                     request_bits: tuple[float, float]) -> None:
        names = [cloud.name for cloud in self.clouds]
        for s, spec in enumerate(scenario.sites):
            links, wans = spec.wan_links(names), []
            for k, wan in links:  # links named as before when there is one cloud
                label = f"{spec.name}/wan" if scenario.clouds is None else f"{spec.name}/wan/{names[k]}"
                wans.append((k, SharedLink(calendar, wan.up, f"{label}/up"),
                             SharedLink(calendar, wan.down, f"{label}/down"), wan.rtt))
            nearest = nearest_wan([(k, wan.up, wan.down, wan.rtt) for k, wan in links], request_bits)
            cloud, up, down, rtt = wans[nearest]
            self.sites.append(Site(s, spec.name, tuple(spec.position), FifoServer(spec.server.cores),
                                   server_flops / spec.server.speed, EDGE_SERVER, up, down, rtt, cloud, wans))
            self.metro.out.append({})
            for cell in spec.cells:
                link = scenario.link_profile(cell.link)
                self.cells.append(Cell(len(self.cells), cell.name, s, link,
                                       SharedLink(calendar, link.up_bps, f"{cell.name}/up"),
                                       SharedLink(calendar, link.down_bps, f"{cell.name}/down"),
                                       tuple(cell.position) if cell.position is not None else tuple(spec.position),
                                       cell.radius))
        index = {site.name: site.index for site in self.sites}
        for spec in scenario.metro:
            a, b = (index[name] for name in spec.between)
            self.metro.out[a][b] = (SharedLink(calendar, spec.bandwidth, f"metro/{spec.between[0]}-{spec.between[1]}"),
                                    spec.rtt)
            self.metro.out[b][a] = (SharedLink(calendar, spec.bandwidth, f"metro/{spec.between[1]}-{spec.between[0]}"),
                                    spec.rtt)

    def _cell_of(self, scenario: Scenario, group: int, link: LinkProfile) -> int:
        """The cell a fleet entry's devices start in: the one it names, else its site's first of its link kind."""
        if not scenario.sites:
            return group
        entry = scenario.fleet[group]
        if entry.cell is not None:
            return next(c.index for c in self.cells if c.name == entry.cell)
        if entry.mobility is not None:  # a placeholder: sim.mobility attaches it by its position before the run
            return next(c.index for c in self.cells if c.link.name == link.name)
        site = next(s.index for s in self.sites if s.name == entry.site) if entry.site else 0
        return next(c.index for c in self.cells if c.site == site and c.link.name == link.name)

    def _shortest_paths(self, source: int) -> list[list[int] | None]:
        """Dijkstra on metro RTT from `source`: the site sequence to every site (None: unreachable).

        Ties go to fewer hops, then to the lower site numbers, so routes never depend on dict order.
        """
        best: dict[int, tuple[float, int, list[int]]] = {source: (0.0, 0, [source])}
        heap = [(0.0, 0, [source])]
        done: set[int] = set()
        while heap:
            rtt, hops, path = heapq.heappop(heap)
            here = path[-1]
            if here in done:
                continue
            done.add(here)
            for there, (_, hop_rtt) in sorted(self.metro.out[here].items()):
                candidate = (rtt + hop_rtt, hops + 1, path + [there])
                if there not in best or candidate < best[there]:
                    best[there] = candidate
                    heapq.heappush(heap, candidate)
        return [best[s][2] if s in best else None for s in range(len(self.sites))]

    # --- routes ---------------------------------------------------------------------------------
    def routes_from(self, cell: int, access_rtt_s: float) -> list:
        """A device's routes by target from `cell`: [None (local), own site, cloud, site 0, site 1, ...]."""
        home = self.cells[cell].site
        site_routes = [self._site_route(home, s, access_rtt_s) for s in range(len(self.sites))]
        home_site = self.sites[home]
        to = self.clouds[home_site.cloud]
        cloud = (to.server, to.compute_s, (home_site.wan_up,), (home_site.wan_down,),
                 access_rtt_s + home_site.wan_rtt_s, cloud_site(home_site.cloud))
        return [None, site_routes[home], cloud, *site_routes]

    def attach(self, dev: int, cell: int) -> None:
        """Device `dev` is now in `cell` (mobility): its cell, site, access links and routes, in place.

        Routes are built once per (cell, access RTT) and shared by the devices that move there."""
        into = self.cells[cell]
        self.cell[dev], self.home_site[dev] = cell, into.site
        self.up_link[dev], self.down_link[dev] = into.up, into.down
        self.routes[dev] = self._shared_routes(cell, self._access_rtt_s[dev])

    def _shared_routes(self, cell: int, access_rtt_s: float) -> list:
        key = (cell, access_rtt_s)
        routes = self._routes_of_cell.get(key)
        if routes is None:
            routes = self._routes_of_cell[key] = self.routes_from(cell, access_rtt_s)
        return routes

    def detach(self, dev: int, no_link) -> None:
        """Device `dev` has no cell in range: it sends over `no_link` (sim.mobility.NoCoverage). Its site and
        routes stay those of its last cell: what a policy deciding for it still believes."""
        self.cell[dev] = NO_CELL
        self.up_link[dev] = self.down_link[dev] = no_link

    def _site_route(self, home: int, site: int, access_rtt_s: float):
        path = self._paths[home][site]
        if path is None:
            return None  # no metro path: the site cannot be reached from this cell
        up, down, rtt = [], [], access_rtt_s
        for a, b in zip(path, path[1:]):
            link, hop_rtt = self.metro.out[a][b]
            up.append(link)
            down.append(self.metro.out[b][a][0])
            rtt += hop_rtt
        target = self.sites[site]
        return target.server, target.compute_s, tuple(up), tuple(reversed(down)), rtt, site

    def site_estimates(self, dev: int) -> tuple[int, list[float], tuple, tuple, tuple, float]:
        """What device `dev` knows of every site from its cell, for its observation: its own site, the queue
        each site last reported to it (the live list), the round trip, the compute time, the metro path's
        slowest hop (nominal bit/s; inf for its own site) and the least round trip plus compute of another site
        (Observation.site_floor_s)."""
        shared, home = self.routes[dev], self.home_site[dev]
        known = self._estimates.get(id(shared))  # shared lists live as long as the topology: ids stay unique
        if known is None:  # (devices sharing a routes list share its cell, so its home site)
            routes = shared[FIRST_SITE:]
            slowest = tuple(min((link.bytes_per_s * 8.0 for link in route[2]), default=float("inf"))
                            for route in routes)
            rtt, compute = tuple(route[4] for route in routes), tuple(route[1] for route in routes)
            known = self._estimates[id(shared)] = (rtt, compute, slowest, site_floor_s(rtt, compute, home))
        return (home, self.wait_seen[dev], *known)

    def metro_rtt_s(self, home: int, site: int) -> float:
        """Round trip over the metro from site `home` to site `site` (0 for the same site)."""
        path = self._paths[home][site]
        return sum(self.metro.out[a][b][1] for a, b in zip(path, path[1:])) if path else float("inf")

    # --- reading --------------------------------------------------------------------------------
    def links(self) -> list[FailingLink]:
        """Every shared link, in a fixed order (links.csv): cells, then WANs, then metro hops."""
        cells = [link for cell in self.cells for link in (cell.up, cell.down)]
        wans = [link for site in self.sites for _, up, down, _ in site.wans for link in (up, down)]
        metro = [link for out in self.metro.out for _, (link, _) in sorted(out.items())]
        return cells + wans + metro


def nearest_wan(links: list[tuple[int, float, float, float]], request_bits: tuple[float, float]) -> int:
    """Which of a site's WAN links (cloud, up bit/s, down bit/s, rtt s) its requests for the cloud take: the one
    a request and its reply cross soonest on idle links, rtt + up bits / up + down bits / down; a tie goes to the
    cloud listed first. A fixed rule, once per site: queues, load and outages do not move it."""
    up_bits, down_bits = request_bits
    return min(range(len(links)), key=lambda i: (links[i][3] + up_bits / links[i][1] + down_bits / links[i][2],
                                                 links[i][0]))
