"""Greedy on latency: the target with the smallest estimated latency."""
from __future__ import annotations

from sim.policies.base import CLOUD, EDGE, LOCAL, BasePolicy
from sim.policies.observation import Observation


class Greedy(BasePolicy):
    """Minimum estimated latency over local, edge and cloud."""

    name = "greedy"

    def decide(self, obs: Observation) -> int:
        local, edge, cloud = obs.latency_estimates_s()
        if local <= edge and local <= cloud:
            return LOCAL
        return EDGE if edge <= cloud else CLOUD


class GreedyLatency(Greedy):
    """Minimum estimated latency over local, edge and cloud (greedy under its longer name)."""

    name = "greedy-latency"
