"""LinUCB: a contextual bandit that learns which target pays off from each request's outcome (Li et al. 2010)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from sim.policies.base import CLOUD, EDGE, LOCAL, BasePolicy, Param
from sim.policies.observation import Observation

# a target believed unreachable (an infinite latency estimate: sim.outages) enters the context at this many
# deadlines, past any answer worth having; the arm itself is not chosen until a probe is answered
UNREACHABLE_DEADLINES = 10.0


class LinUCB(BasePolicy):
    """Disjoint LinUCB on the decision context, reward -(latency/deadline + lambda x energy + miss) (Li et al. 2010).

    One ridge regression per target on the decision context; the inverse design matrices are
    updated with Sherman-Morrison, O(d^2) per outcome.
    """

    name = "linucb"
    params = {"alpha": Param(0.5, "width of the confidence bonus: larger explores more"),
              "lambda_energy": Param(1.0, "reward lost per joule of device energy"),
              "miss_penalty": Param(1.0, "reward lost when the reply misses the deadline")}
    uses_outcomes = True
    DIM = 8

    def __init__(self, rng: np.random.Generator, **values: Any):
        super().__init__(rng, **values)
        self.a_inv = np.stack([np.eye(self.DIM)] * 3)
        self.b = np.zeros((3, self.DIM))
        self.pending: dict[int, tuple[np.ndarray, float]] = {}  # request -> (context, deadline) until its outcome

    def _context(self, obs: Observation, latency: tuple[float, float, float]) -> np.ndarray:
        scale = max(obs.deadline_s, 1e-6)
        energy = obs.energy_estimates_j()
        if latency[EDGE] == math.inf or latency[CLOUD] == math.inf:  # a target that timed out (sim.outages)
            latency = tuple(x if x < math.inf else UNREACHABLE_DEADLINES * scale for x in latency)
        return np.array([1.0, latency[LOCAL] / scale, latency[EDGE] / scale, latency[CLOUD] / scale, energy[LOCAL],
                         energy[EDGE], obs.battery_soc, obs.cpu_wait_s / scale])

    def decide(self, obs: Observation) -> int:
        latency = obs.latency_estimates_s()
        x = self._context(obs, latency)
        theta = np.einsum("aij,aj->ai", self.a_inv, self.b)
        width = np.sqrt(np.einsum("i,aij,j->a", x, self.a_inv, x))
        score = theta @ x + self.alpha * width
        if latency[EDGE] == math.inf or latency[CLOUD] == math.inf:  # never an arm the device cannot reach
            score[[target for target in (EDGE, CLOUD) if latency[target] == math.inf]] = -math.inf
        target = int(np.argmax(score))
        self.pending[obs.request] = (x, obs.deadline_s)
        return target

    def observe(self, target: int, latency_s: float, energy_j: float, met_deadline: bool, request: int) -> None:
        x, deadline = self.pending.pop(request)
        reward = -(latency_s / max(deadline, 1e-6) + self.lambda_energy * energy_j
                   + (0.0 if met_deadline else self.miss_penalty))
        a_inv = self.a_inv[target]
        ax = a_inv @ x
        a_inv -= np.outer(ax, ax) / (1.0 + x @ ax)
        self.b[target] += reward * x
