"""Server outages, and how devices find out: timeouts, then probes.

A server that is down accepts nothing: a request that reaches it gets no reply. Its device notices only at
the request's timeout (a number of its deadlines, `timeouts.deadlines`); the request is then recorded as
`timeout`, and the device takes the site's queue to be as long as the timeout, so an estimating policy stops
choosing it. From then on the device probes that site every `timeouts.probe_every` (a probe's bytes and round
trip are not modelled); the first answered probe tells it the site's queue again, and the site is chosen again
as soon as it pays. Devices never read whether a server is up.
"""
from __future__ import annotations

from typing import Any

from sim.topology import CLOUD_SITE


class Outages:
    """The outage schedule of one world (`outages:`), the servers' up/down state and the devices' probes."""

    def __init__(self, world: Any):  # the sim.world.World being built (a type import back would be a cycle)
        scenario, topology = world.scenario, world.topology
        self.env, self.calendar = world.env, world.calendar
        self.topology = topology
        # down[site] for the edge sites, down[CLOUD_SITE] (the last entry) for the cloud
        self.down = [False] * (len(topology.sites) + 1)
        index = {site.name: site.index for site in topology.sites}
        index["cloud"] = CLOUD_SITE
        self.windows = [(index[o.server], o.at, o.at + o.duration) for o in scenario.outages]
        settings = scenario.timeouts
        self.timeout_s = [settings.deadlines * deadline for deadline in world.fleet.deadline_s]
        self.probe_every_s = settings.probe_every
        self.timed_out = 0
        self.probes = 0
        self._probing: set[tuple[int, int]] = set()

    def start(self) -> None:
        for server, start, end in self.windows:
            self.env.process(self._switch(server, start, end))

    def _switch(self, server: int, start: float, end: float):
        if start > self.env.now:
            yield self.env.timeout(start - self.env.now)
        self.down[server] = True
        yield self.env.timeout(end - self.env.now)
        self.down[server] = False

    def gave_up(self, dev: int, site: int) -> None:
        """Device `dev` timed out on `site`: it takes the queue there to be a timeout long, and starts probing."""
        self.timed_out += 1
        if site == CLOUD_SITE:
            return  # devices keep no estimate of the cloud's queue: only the timeouts show it
        self.topology.wait_seen[dev][site] = self.timeout_s[dev]
        if (dev, site) not in self._probing:
            self._probing.add((dev, site))
            self.calendar.at(self.env._now + self.probe_every_s, self._probe, (dev, site))

    def _probe(self, key: tuple[int, int]) -> None:
        dev, site = key
        self.probes += 1
        if self.down[site]:
            self.calendar.at(self.env._now + self.probe_every_s, self._probe, key)
            return
        self._probing.discard(key)
        self.topology.wait_seen[dev][site] = self.topology.sites[site].server.wait_s(self.env._now)

    def summary(self) -> dict:
        return {"timeouts": self.timed_out, "probes": self.probes,
                "windows": [{"server": "cloud" if s == CLOUD_SITE else self.topology.sites[s].name,
                             "start_s": start, "end_s": end} for s, start, end in self.windows]}
