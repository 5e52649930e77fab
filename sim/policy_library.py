"""Offload policies from the literature: deadline-energy, battery-threshold, Lyapunov, LinUCB, oracle."""
from __future__ import annotations

import math

import numpy as np

from sim.policies import CLOUD, EDGE, LOCAL, Observation

TARGETS = (LOCAL, EDGE, CLOUD)


def staleness_rounds(obs: Observation, target: int) -> float:
    """Accuracy proxy: how many model versions the model serving `target` lags the newest global model.

    Forecast truth arrives only after the run, so no policy can measure its error online; a device's
    own model lags the servers' by the rounds it has not yet downloaded, and the servers always
    serve the newest. (int8 on the device costs under 0.1% MSE here: see README, so it is ignored.)
    """
    return float(obs.server_version - obs.local_version) if target == LOCAL else 0.0


class _Policy:
    uses_observation = True
    uses_outcomes = False

    def observe(self, target: int, latency_s: float, energy_j: float, met_deadline: bool, request: int) -> None:
        pass


class DeadlineEnergy(_Policy):
    """Cheapest device energy among the targets expected to meet the deadline, else the fastest."""

    name = "deadline-energy"

    def __init__(self, accuracy_weight: float = 0.0):
        self.accuracy_weight = accuracy_weight  # joules charged per round of model staleness

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


class BatteryThreshold(_Policy):
    """Local while the state of charge is at least `threshold`; below it, the cheaper offload (Kumar & Lu 2010)."""

    name = "battery-threshold"

    def __init__(self, threshold: float = 0.3):
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        self.threshold = threshold

    def decide(self, obs: Observation) -> int:
        if obs.battery_soc >= self.threshold:
            return LOCAL
        energies = obs.energy_estimates_j()
        return EDGE if energies[EDGE] <= energies[CLOUD] else CLOUD


class Lyapunov(_Policy):
    """Drift-plus-penalty with a virtual energy queue per device (Mao, Zhang & Letaief, JSAC 2016; LyDROO).

    Y_d <- max(Y_d + e - energy_budget_j, 0) after every decision; choose the target minimising
    V * latency + Y_d * energy (+ phi when the latency estimate misses the deadline). Small V weighs
    the energy backlog more: less energy, more latency.
    """

    name = "lyapunov"

    def __init__(self, V: float = 1.0, energy_budget_j: float = 0.01, phi: float = 1.0, accuracy_weight: float = 0.0):
        if V <= 0 or energy_budget_j < 0 or phi < 0 or accuracy_weight < 0:
            raise ValueError("V must be > 0; energy_budget_j, phi and accuracy_weight >= 0")
        self.V, self.budget, self.phi, self.accuracy_weight = V, energy_budget_j, phi, accuracy_weight
        self.queue: list[float] = []

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
        self.queue[dev] = max(backlog + best_energy - self.budget, 0.0)
        return best


class LinUCB(_Policy):
    """Disjoint LinUCB (Li et al. 2010): one ridge regression per target on the decision context.

    reward = -(latency / deadline + lambda_energy * energy_j + miss_penalty * missed); the
    inverse design matrices are updated with Sherman-Morrison, O(d^2) per outcome.
    """

    name = "linucb"
    uses_outcomes = True
    DIM = 8

    def __init__(self, alpha: float = 0.5, lambda_energy: float = 1.0, miss_penalty: float = 1.0):
        self.alpha, self.lam, self.miss = alpha, lambda_energy, miss_penalty
        self.a_inv = np.stack([np.eye(self.DIM)] * 3)
        self.b = np.zeros((3, self.DIM))
        self.pending: dict[int, tuple[np.ndarray, float]] = {}

    def _context(self, obs: Observation) -> np.ndarray:
        scale = max(obs.deadline_s, 1e-6)
        latency, energy = obs.latency_estimates_s(), obs.energy_estimates_j()
        return np.array([1.0, latency[LOCAL] / scale, latency[EDGE] / scale, latency[CLOUD] / scale, energy[LOCAL],
                         energy[EDGE], obs.battery_soc, obs.cpu_wait_s / scale])

    def decide(self, obs: Observation) -> int:
        x = self._context(obs)
        theta = np.einsum("aij,aj->ai", self.a_inv, self.b)
        width = np.sqrt(np.einsum("i,aij,j->a", x, self.a_inv, x))
        target = int(np.argmax(theta @ x + self.alpha * width))
        self.pending[obs.request] = (x, obs.deadline_s)
        return target

    def observe(self, target: int, latency_s: float, energy_j: float, met_deadline: bool, request: int) -> None:
        x, deadline = self.pending.pop(request)
        reward = -(latency_s / max(deadline, 1e-6) + self.lam * energy_j + (0.0 if met_deadline else self.miss))
        a_inv = self.a_inv[target]
        ax = a_inv @ x
        a_inv -= np.outer(ax, ax) / (1.0 + x @ ax)
        self.b[target] += reward * x


class Oracle(_Policy):
    """NOT REALISABLE: a reference bound that reads the true current state of every queue and link.

    For each target it computes the latency the request would see if nothing else arrived:
    the true CPU and server queues, the processor-sharing share of each link with this flow
    added, radio promotion when the radio is idle past its tail.
    """

    name = "oracle"

    def bind(self, world) -> None:
        self.world = world

    def _transfer_s(self, link, nbytes: float) -> float:
        return nbytes / (link.bytes_per_s / (link.active_flows + 1))

    def decide(self, obs: Observation) -> int:
        world, dev, now = self.world, obs.device, obs.now
        local = world._cpu[dev].wait_s(now) + obs.compute_s[LOCAL]
        radio = obs.radio
        promotion = radio.promotion_s if obs.radio_idle_s >= radio.tail_s else 0.0
        up = promotion + self._transfer_s(world._up_link[dev], obs.up_bytes)
        down = self._transfer_s(world._down_link[dev], obs.down_bytes)
        edge = up + world.edge_server.wait_s(now + up) + obs.compute_s[EDGE] + obs.access_rtt_s + down
        wan = self._transfer_s(world.wan_up, obs.up_bytes)
        cloud = (up + wan + world.cloud_server.wait_s(now + up + wan) + obs.compute_s[CLOUD] + obs.access_rtt_s
                 + obs.wan_rtt_s + self._transfer_s(world.wan_down, obs.down_bytes) + down)
        if local <= edge and local <= cloud:
            return LOCAL
        return EDGE if edge <= cloud else CLOUD
