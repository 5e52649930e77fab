"""Random targets with fixed probabilities: a baseline, and the engine benchmark's load."""
from __future__ import annotations

from typing import Any

import numpy as np

from sim.policies.base import CLOUD, EDGE, LOCAL, BasePolicy, Param
from sim.policies.observation import Observation


class RandomTarget(BasePolicy):
    """Target drawn with fixed probabilities (normalised to sum to 1)."""

    name = "random"
    params = {"p_local": Param(1 / 3, "weight of computing on the device"),
              "p_edge": Param(1 / 3, "weight of offloading to the edge"),
              "p_cloud": Param(1 / 3, "weight of offloading to the cloud")}
    uses_observation = False

    def __init__(self, rng: np.random.Generator, **values: Any):
        super().__init__(rng, **values)
        weights = np.array([self.p_local, self.p_edge, self.p_cloud], dtype=float)
        if (weights < 0).any() or weights.sum() <= 0:
            raise ValueError("p_local, p_edge, p_cloud must be >= 0 with a positive sum")
        self._cdf = np.cumsum(weights / weights.sum()).tolist()
        self._uniform = rng.random
        self._buffer: list[float] = []

    def decide(self, obs: Observation) -> int:
        if not self._buffer:  # draw in blocks: one numpy call per 4096 decisions
            self._buffer = self._uniform(4096).tolist()
        u = self._buffer.pop()
        cdf = self._cdf
        return LOCAL if u < cdf[0] else (EDGE if u < cdf[1] else CLOUD)
