"""Battery threshold: compute locally until the battery runs low (Kumar & Lu 2010)."""
from __future__ import annotations

from typing import Any

import numpy as np

from sim.policies.base import CLOUD, EDGE, LOCAL, BasePolicy, Param
from sim.policies.observation import Observation


class BatteryThreshold(BasePolicy):
    """Local while the state of charge is at least `threshold`; below it, the cheaper offload (Kumar & Lu 2010)."""

    name = "battery-threshold"
    params = {"threshold": Param(0.3, "state of charge (0-1) below which the device offloads")}

    def __init__(self, rng: np.random.Generator, **values: Any):
        super().__init__(rng, **values)
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")

    def decide(self, obs: Observation) -> int:
        if obs.battery_soc >= self.threshold:
            return LOCAL
        energies = obs.energy_estimates_j()
        return EDGE if energies[EDGE] <= energies[CLOUD] else CLOUD
