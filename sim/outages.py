"""Outages of cells, metro links, WAN links, edge servers and the clouds, and how devices find out.

- A dead link (a cell's uplink and downlink, both directions of a metro link, a site's WAN) stalls: its flows
  keep the bytes they got and wait, new flows join them, and all go on at the repair (SharedLink.stall). A dead
  server accepts nothing, and what it held is lost with it: no reply leaves it while it is down.
- So a request whose path includes a dead component gets no reply in time. Its device notices only at the
  request's timeout (`timeouts.deadlines` of its deadlines): the request is recorded as `timeout` (or, with
  `timeouts.retry_local`, run on the device from then on: sim.serving), the device takes that target (a site,
  or the cloud) to be unreachable (an infinite queue estimate), so an estimating policy stops choosing it, and
  probes it every `timeouts.probe_every` (a probe's bytes are not modelled). A probe is answered when every
  component on the device's path to the target is up; the answer tells the device the queue there again. A
  stalled request that goes on after the repair arrives too late: only its radio work is booked.
- Devices never read whether a component is up; only the simulator's records (outages.csv, summary.json) do.

Random outages alternate exponential up times (mean `mtbf`) and down times (mean `mttr`) from the start of the
run, each entry from its own random stream named after its component, so adding one shifts no other draw.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from sim.policies.base import CLOUD, FIRST_SITE
from sim.scenario_outages import canonical
from sim.topology import cloud_site

SERVER, UP_HOPS, DOWN_HOPS, ROUTE_SITE = 0, 2, 3, 5  # positions in a route (sim.topology)
DEV, ARRIVAL, ROUTE = 1, 6, 7  # positions in an in-flight request (sim.serving)
UNREACHABLE_S = float("inf")  # the queue a device believes a target has that did not answer (policies avoid inf)
OUTAGE_COLUMNS = ["component", "kind", "start_s", "end_s"]  # outages.csv (the timeline figure reads it)


@dataclass(eq=False)  # hashed by identity: a part is one object
class Component:
    """One part that can fail: its links (stalled while down) or its servers (indices into Outages.down). Two
    components may share one (`cloud` holds every cloud's server, `wan:<site>` each of the site's WAN links)."""

    name: str
    links: tuple = ()
    servers: tuple = ()
    failures: int = 0  # outages in progress (scheduled and random ones may overlap)
    repaired_at: float = -np.inf
    timeouts: int = 0
    windows: list = field(default_factory=list)  # [kind, start, end or None]


class Outages:
    """The outages of one world (`outages:`): the components' up/down state, timeouts and the devices' probes."""

    def __init__(self, world: Any, stream: Callable[[int, str], np.random.Generator]):
        # world: the sim.world.World being built (a type import back would be a cycle); stream: sim.world.stream
        scenario, topology = world.scenario, world.topology
        self.world, self.env, self.calendar, self.topology = world, world.env, world.calendar, topology
        # down[site] for the edge servers, down[cloud_site(k)] (the last entries, from the end) for cloud k:
        # Serving reads it
        self.down = [False] * (len(topology.sites) + len(topology.clouds))
        self.parts = self._components(topology, scenario.clouds is not None)
        self._parts_of_link: dict[int, list[Component]] = {}
        self._parts_of_server: dict[int, list[Component]] = {}
        for part in self.parts.values():
            for link in part.links:
                self._parts_of_link.setdefault(id(link), []).append(part)
            for server in part.servers:
                self._parts_of_server.setdefault(server, []).append(part)
        # how many failed components hold each server and link: it is down while any is
        self._failed_servers = [0] * len(self.down)
        self._failed_links: dict[int, int] = {}
        self.entries = []  # (component, at, for) or (component, mtbf, mttr, rng)
        random_count: dict[str, int] = {}
        for outage in scenario.outages:
            part = self.parts[canonical(outage.name, scenario)]
            if outage.random:
                k = random_count[part.name] = random_count.get(part.name, -1) + 1
                self.entries.append((part, outage.mtbf, outage.mttr, stream(scenario.seed, f"outages/{part.name}/{k}")))
            else:
                self.entries.append((part, outage.at, outage.duration))
        settings = scenario.timeouts
        self.timeout_s = [settings.deadlines * deadline for deadline in world.fleet.deadline_s]
        self.probe_every_s = settings.probe_every
        self.retry_local, self.retried = settings.retry_local, 0  # Serving runs timed-out requests locally, counts them
        self.cloud_wait_seen = [0.0] * world.n_devices  # the cloud's queue as each device last heard of it
        self.timed_out = self.unattributed = self.probes = 0
        self.probing: set[tuple[int, int]] = set()

    @staticmethod
    def _components(topology, several_clouds: bool) -> dict[str, Component]:
        """Every component by name (sim.scenario_outages.components lists the same names)."""
        clouds = topology.clouds
        parts = {"cloud": Component("cloud", servers=tuple(cloud_site(c.index) for c in clouds))}
        if several_clouds:
            for cloud in clouds:
                parts[f"cloud:{cloud.name}"] = Component(f"cloud:{cloud.name}", servers=(cloud_site(cloud.index),))
        for site in topology.sites:
            parts[f"server:{site.name}"] = Component(f"server:{site.name}", servers=(site.index,))
            links = tuple(link for _, up, down, _ in site.wans for link in (up, down))
            parts[f"wan:{site.name}"] = Component(f"wan:{site.name}", links)
            if several_clouds:
                for k, up, down, _ in site.wans:
                    name = f"wan:{site.name}:{clouds[k].name}"
                    parts[name] = Component(name, (up, down))
        for cell in topology.cells:
            parts[f"cell:{cell.name}"] = Component(f"cell:{cell.name}", (cell.up, cell.down))
        for a, out in enumerate(topology.metro.out):
            for b, (link, _) in sorted(out.items()):
                if a < b:
                    name = f"metro:{topology.sites[a].name}-{topology.sites[b].name}"
                    parts[name] = Component(name, (link, topology.metro.out[b][a][0]))
        return parts

    # --- failing and repairing ------------------------------------------------------------------------
    def start(self) -> None:
        for entry in self.entries:
            self.env.process(self._random(*entry) if len(entry) == 4 else self._scheduled(*entry))

    def _scheduled(self, part: Component, at: float, duration: float):
        if at > self.env.now:
            yield self.env.timeout(at - self.env.now)
        window = self._fail(part, "scheduled")
        yield self.env.timeout(duration)
        self._repair(part, window)

    def _random(self, part: Component, mtbf: float, mttr: float, rng: np.random.Generator):
        while True:
            yield self.env.timeout(rng.exponential(mtbf))
            window = self._fail(part, "random")
            yield self.env.timeout(rng.exponential(mttr))
            self._repair(part, window)

    def _fail(self, part: Component, kind: str) -> list:
        window = [kind, self.env.now, None]
        part.windows.append(window)
        part.failures += 1
        if part.failures == 1:
            for server in part.servers:
                self._failed_servers[server] += 1
                self.down[server] = True
            for link in part.links:
                failed = self._failed_links[id(link)] = self._failed_links.get(id(link), 0) + 1
                if failed == 1:
                    link.stall()
        return window

    def _repair(self, part: Component, window: list) -> None:
        now = self.env.now
        window[2] = now
        part.failures -= 1
        if part.failures == 0:
            part.repaired_at = now
            for server in part.servers:
                self._failed_servers[server] -= 1
                self.down[server] = self._failed_servers[server] > 0
            for link in part.links:
                self._failed_links[id(link)] -= 1
                if not self._failed_links[id(link)]:
                    link.resume()

    # --- what devices see -----------------------------------------------------------------------------
    def gave_up(self, request: list) -> None:
        """A request had no reply by its timeout: its device takes the target to be unreachable and starts
        probing it; the simulator books the timeout to the components on its path that were down."""
        self.timed_out += 1
        dev, route = request[DEV], request[ROUTE]
        self._attribute(dev, route, request[ARRIVAL])
        self.unreachable(dev, route[ROUTE_SITE])

    def unreachable(self, dev: int, site: int) -> None:
        """Device `dev` found `site` (negative: its cloud, sim.topology.cloud_site) not answering: an infinite
        queue estimate (no answer is worse than any late one), and probes until one is answered."""
        if site < 0:
            self._cloud_seen(dev, UNREACHABLE_S)
        else:
            self.topology.wait_seen[dev][site] = UNREACHABLE_S
        if (dev, site) not in self.probing:
            self.probing.add((dev, site))
            self.calendar.at(self.env._now + self.probe_every_s, self._probe, (dev, site))

    def _attribute(self, dev: int, route: tuple, arrival: float) -> None:
        topology = self.topology
        path = (topology.up_link[dev], *route[UP_HOPS], *route[DOWN_HOPS], topology.down_link[dev])
        parts = {part for link in path for part in self._parts_of_link.get(id(link), ())}
        parts.update(self._parts_of_server.get(route[ROUTE_SITE], ()))
        blamed = [p for p in parts if p.failures or p.repaired_at > arrival]
        for part in blamed:
            part.timeouts += 1
        if not blamed:
            self.unattributed += 1  # late for another reason (congestion), or down and up again unnoticed

    def _probe(self, key: tuple[int, int]) -> None:
        dev, site = key
        self.probes += 1
        if not self.route_up(dev, site):
            self.calendar.at(self.env._now + self.probe_every_s, self._probe, key)
            return
        self.probing.discard(key)
        now = self.env._now
        wait_s = self._route(dev, site)[SERVER].wait_s(now)  # the queue at the server its path leads to
        if site < 0:
            self._cloud_seen(dev, wait_s)
        else:
            self.topology.wait_seen[dev][site] = wait_s

    def _route(self, dev: int, site: int) -> tuple | None:
        """Device `dev`'s route now to `site` (negative: its cloud, the one its current site's WAN leads to)."""
        return self.topology.routes[dev][CLOUD if site < 0 else FIRST_SITE + site]

    def route_up(self, dev: int, site: int) -> bool:
        """Whether a probe from device `dev` to `site` (negative: its cloud) would be answered now."""
        topology = self.topology
        route = self._route(dev, site)
        if route is None or self.down[route[ROUTE_SITE]]:
            return False
        # a device out of coverage (sim.mobility's NoCoverage link, no `down`) gets no answer either
        path = (topology.up_link[dev], topology.down_link[dev], *route[UP_HOPS], *route[DOWN_HOPS])
        return not any(getattr(link, "down", True) for link in path)

    def _cloud_seen(self, dev: int, wait_s: float) -> None:
        self.cloud_wait_seen[dev] = wait_s
        self.world.serving.cloud_wait_seen(dev, wait_s)

    # --- records ------------------------------------------------------------------------------------
    def rows(self, until_s: float | None = None) -> list[dict]:
        """outages.csv: one row per outage that began in the run, its end cut at `until_s` (default: the run's end)."""
        until_s = self.world.duration_s if until_s is None else until_s
        rows = [{"component": part.name, "kind": kind, "start_s": start,
                 "end_s": min(end, until_s) if end is not None else until_s}
                for part in self.parts.values() for kind, start, end in part.windows if start < until_s]
        return sorted(rows, key=lambda r: (r["start_s"], r["component"]))

    def summary(self, until_s: float | None = None) -> dict:
        """summary.json's `outages`: per failed component its down time (overlaps counted once) and timeouts."""
        until_s = self.world.duration_s if until_s is None else until_s
        components = {}
        for part in self.parts.values():
            if part.windows or part.timeouts:
                components[part.name] = {"down_s": _union_s([(s, e if e is not None else until_s)
                                                              for _, s, e in part.windows], until_s),
                                         "outages": len([w for w in part.windows if w[1] < until_s]),
                                         "timeouts": part.timeouts}
        retried = {"retried_local": self.retried} if self.retry_local else {}  # of the timeouts, run locally
        return {"timeouts": self.timed_out, "timeouts_unattributed": self.unattributed, "probes": self.probes,
                **retried, "components": components, "windows": self.rows(until_s)}


def _union_s(windows: list[tuple[float, float]], until_s: float) -> float:
    """Total length of the union of [start, end) windows, cut at until_s."""
    total, reach = 0.0, -np.inf
    for start, end in sorted(windows):
        end = min(end, until_s)
        if end > max(start, reach):
            total += end - max(start, reach)
        reach = max(reach, end)
    return total
