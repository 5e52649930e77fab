"""Deadline-energy: save device energy as long as the deadline is expected to hold."""
from __future__ import annotations

import math

from sim.policies.base import LOCAL, TARGETS, BasePolicy, Param
from sim.policies.observation import Observation, staleness_rounds


class DeadlineEnergy(BasePolicy):
    """Cheapest device energy among the targets expected to meet the deadline, else the fastest."""

    name = "deadline-energy"
    params = {"accuracy_weight": Param(0.0, "joules charged per round the device's model lags the servers'")}

    def decide(self, obs: Observation) -> int:
        best, best_energy, fastest, fastest_latency = -1, math.inf, LOCAL, math.inf
        latencies, energies = obs.latency_estimates_s(), obs.energy_estimates_j()
        for target in TARGETS:
            latency = latencies[target]
            if latency < fastest_latency:
                fastest, fastest_latency = target, latency
            if latency <= obs.deadline_s:
                energy = energies[target] + self.accuracy_weight * staleness_rounds(obs, target)
                if energy < best_energy:
                    best, best_energy = target, energy
        return best if best >= 0 else fastest
