"""Estimates that age: what a device believes of its links and of the sites' queues is re-measured by a probe
when nothing refreshed it for a whole `timeouts.probe_every`.

Without this, an estimate that went bad stayed bad: a device whose measured throughput fell in a slow spell (or
whose site once reported a long queue) stopped offloading, so no transfer or reply ever corrected it, and greedy,
deadline-energy, linucb and lyapunov kept away for the rest of the run. Every period each device looks at its
estimates; one that did not change since the last look (no transfer, no reply) and is worse than the prior it
started from (the link's nominal rate; an empty queue) is re-measured:

- throughput on its access link: a probe gets the share a new flow would get now, rate / (flows + 1) (a
  packet-train measurement; its bytes are not modelled). A probe on a dead link gets nothing: the estimate stays.
- a site's queue: a probe along the path to that site is answered with the queue there, or, when a component on
  the path is down, not at all: the device then treats the site as timed out (sim.outages) and probes it on.

A device reads only what it could measure; the true up/down state is read only to decide whether a probe is
answered. Off the request path entirely: one process per world, O(devices x sites) per period.
"""
from __future__ import annotations

from typing import Any


class EstimateRefresh:
    """The periodic look at every device's throughput and queue estimates (see the module docstring)."""

    def __init__(self, world: Any):  # the sim.world.World being built (a type import back would be a cycle)
        fleet, self.topology = world.fleet, world.topology
        self.env, self.outages = world.env, world.outages
        self.period_s = world.scenario.timeouts.probe_every
        self.up, self.down = fleet.up_bps, fleet.down_bps  # the live lists the request path updates
        self.nominal_up = [d.link.up_bps for d in fleet.devices]
        self.nominal_down = [d.link.down_bps for d in fleet.devices]
        self._seen_up, self._seen_down = list(self.up), list(self.down)
        self._seen_wait = [list(waits) for waits in self.topology.wait_seen]
        self.throughput_probes = self.queue_probes = 0

    def start(self) -> None:
        self.env.process(self._run())

    def _run(self):
        while True:
            yield self.env.timeout(self.period_s)
            self.look(self.env.now)

    def look(self, now: float) -> None:
        """Re-measure every estimate that stayed the same since the last look and is worse than its prior."""
        topology = self.topology
        for dev in range(len(self.up)):
            self._throughput(self.up, self._seen_up, self.nominal_up, topology.up_link[dev], dev)
            self._throughput(self.down, self._seen_down, self.nominal_down, topology.down_link[dev], dev)
            waits, seen = topology.wait_seen[dev], self._seen_wait[dev]
            for site, wait in enumerate(waits):
                if wait > 0.0 and wait == seen[site]:
                    self._queue(dev, site, now)
            seen[:] = waits

    def _throughput(self, estimate: list, seen: list, nominal: list, link, dev: int) -> None:
        value = estimate[dev]
        if value == seen[dev] and value < nominal[dev] and not getattr(link, "down", True):
            self.throughput_probes += 1
            estimate[dev] = link.bytes_per_s * 8.0 / (link.active_flows + 1)
        seen[dev] = estimate[dev]

    def _queue(self, dev: int, site: int, now: float) -> None:
        outages = self.outages
        if outages is not None and (dev, site) in outages.probing:
            return  # already probed by the timeout's probes
        self.queue_probes += 1
        if outages is None or outages.route_up(dev, site):
            self.topology.wait_seen[dev][site] = self.topology.sites[site].server.wait_s(now)
        else:
            outages.unreachable(dev, site)

    def summary(self) -> dict:
        return {"throughput_probes": self.throughput_probes, "queue_probes": self.queue_probes,
                "period_s": self.period_s}


def refreshing(scenario: Any) -> bool:
    """Whether a sim.scenario.Scenario's devices refresh stale estimates (`timeouts.refresh`)."""
    mode = scenario.timeouts.refresh
    if mode != "auto":
        return mode == "always"
    return bool(scenario.outages) or any(group.bandwidth_trace is not None for group in scenario.fleet)
