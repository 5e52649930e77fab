"""Greedy on latency: the target with the smallest estimated latency."""
from __future__ import annotations

from sim.policies.base import CLOUD, EDGE, LOCAL, BasePolicy, site_target
from sim.policies.observation import Observation


class Greedy(BasePolicy):
    """Minimum estimated latency over local, the edge sites and the cloud."""

    name = "greedy"

    def decide(self, obs: Observation) -> int:
        local, edge, cloud = obs.latency_estimates_s()
        if local <= edge and local <= cloud:
            target, best = LOCAL, local
        elif edge <= cloud:
            target, best = EDGE, edge
        else:
            target, best = CLOUD, cloud
        # other sites over the metro: only a strictly faster one is worth the hops (none is when even the
        # least round trip plus compute of theirs is not: Observation.site_floor_s)
        if len(obs.site_rtt_s) > 1 and obs.site_floor_s < best:
            for site, latency in enumerate(obs.site_latency_estimates_s()):
                if site != obs.home_site and latency < best:
                    target, best = site_target(site), latency
        return target


class GreedyLatency(Greedy):
    """Minimum estimated latency over local, the edge sites and the cloud (greedy under its longer name)."""

    name = "greedy-latency"
