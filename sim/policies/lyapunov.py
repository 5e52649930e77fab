"""Lyapunov drift-plus-penalty with a virtual energy queue per device (Mao, Zhang & Letaief, JSAC 2016; LyDROO)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from sim.policies.base import LOCAL, TARGETS, BasePolicy, Param
from sim.policies.observation import Observation, staleness_rounds


class Lyapunov(BasePolicy):
    """Drift-plus-penalty: min V x latency + Y_d x energy (+ phi if late), Y_d a virtual energy queue (Mao 2016).

    Y_d <- max(Y_d + e - energy_budget_j, 0) after every decision; choose the target minimising
    V * latency + Y_d * energy (+ phi when the latency estimate misses the deadline). Small V weighs
    the energy backlog more: less energy, more latency.
    """

    name = "lyapunov"
    params = {"V": Param(1.0, "weight of latency against the energy backlog: smaller saves energy, costs latency"),
              "energy_budget_j": Param(0.01, "device energy per request the virtual queue allows before it grows"),
              "phi": Param(1.0, "penalty added when the latency estimate misses the deadline"),
              "accuracy_weight": Param(0.0, "cost per round the device's model lags the servers'")}

    def __init__(self, rng: np.random.Generator, **values: Any):
        super().__init__(rng, **values)
        if self.V <= 0 or self.energy_budget_j < 0 or self.phi < 0 or self.accuracy_weight < 0:
            raise ValueError("V must be > 0; energy_budget_j, phi and accuracy_weight >= 0")
        self.queue: list[float] = []  # Y_d per device, grown as devices first decide

    def decide(self, obs: Observation) -> int:
        dev = obs.device
        if dev >= len(self.queue):
            self.queue.extend([0.0] * (dev + 1 - len(self.queue)))
        backlog = self.queue[dev]
        best, best_cost, best_energy = LOCAL, math.inf, 0.0
        latencies, energies = obs.latency_estimates_s(), obs.energy_estimates_j()
        for target in TARGETS:
            latency, energy = latencies[target], energies[target]
            cost = (self.V * latency + backlog * energy + (self.phi if latency > obs.deadline_s else 0.0)
                    + self.accuracy_weight * staleness_rounds(obs, target))
            if cost < best_cost:
                best, best_cost, best_energy = target, cost, energy
        self.queue[dev] = max(backlog + best_energy - self.energy_budget_j, 0.0)
        return best
