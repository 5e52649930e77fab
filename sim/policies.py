"""Offload policies: the Policy protocol, the observation a device has at decision time, the registry."""
from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, Callable, Protocol

import numpy as np

LOCAL, EDGE, CLOUD = 0, 1, 2
TARGET_NAMES = ("local", "edge", "cloud")


class Observation:
    """What a device knows when a request arrives; the world refills one instance per request (no allocation)."""

    __slots__ = ("now", "device", "group", "deadline_s", "battery_soc", "cpu_wait_s", "compute_s", "up_bytes",
                 "down_bytes", "up_bps", "down_bps", "access_rtt_s", "wan_rtt_s", "wan_bps", "edge_wait_s",
                 "compute_w", "radio", "radio_idle_s", "local_version", "server_version", "request")

    def __init__(self) -> None:
        self.now = 0.0
        self.device = 0
        self.deadline_s = 0.0
        self.battery_soc = 1.0  # 1.0 for mains-powered devices
        self.cpu_wait_s = 0.0  # time until the device CPU is free
        self.compute_s = (0.0, 0.0, 0.0)  # per target: compute time of one inference
        self.up_bytes = 0.0
        self.down_bytes = 0.0
        self.up_bps = 1.0  # recently measured throughput on the device's access link
        self.down_bps = 1.0
        self.access_rtt_s = 0.0
        self.wan_rtt_s = 0.0
        self.wan_bps = 1.0
        self.edge_wait_s = 0.0  # queue wait the edge server last reported to this device
        self.group = 0  # the device's class (fleet entry)
        self.compute_w = 0.0  # device power above idle while computing
        self.radio = None  # the device's LinkProfile: promotion, tail and power coefficients
        self.radio_idle_s = float("inf")  # since the radio last finished a transfer (0 while active)
        self.local_version = 0  # model version on the device
        self.server_version = 0  # model version the edge server and cloud serve
        self.request = 0  # the request's id; observe() gets it back with the outcome

    def latency_estimates_s(self) -> tuple[float, float, float]:
        """Greedy estimate per target (local, edge, cloud): D_in/r + RTT + W_queue + C/f + D_out/r (CALIBRATION.md)."""
        compute = self.compute_s
        transfer = self.up_bytes * 8.0 / self.up_bps + self.down_bytes * 8.0 / self.down_bps + self.access_rtt_s
        wan = (self.up_bytes + self.down_bytes) * 8.0 / self.wan_bps + self.wan_rtt_s
        return (self.cpu_wait_s + compute[LOCAL], transfer + self.edge_wait_s + compute[EDGE],
                transfer + wan + compute[CLOUD])

    def energy_estimates_j(self) -> tuple[float, float, float]:
        """Device energy of serving one request per target: compute above idle, or the radio's share.

        Offloading (to the edge or the cloud alike) pays transmit and receive (P = a*rate + b) and, if
        the radio has gone idle, a promotion and a fresh tail; inside the tail it pays only the tail it
        extends.
        """
        radio = self.radio
        up_s = self.up_bytes * 8.0 / self.up_bps
        down_s = self.down_bytes * 8.0 / self.down_bps
        active = (radio.a_up_w_per_mbps * self.up_bytes + radio.a_down_w_per_mbps * self.down_bytes) * 8e-6 \
            + radio.base_w * (up_s + down_s)
        if self.radio_idle_s >= radio.tail_s:
            offload = active + radio.promotion_s * radio.promotion_w + radio.tail_s * radio.tail_w
        else:
            offload = active + self.radio_idle_s * radio.tail_w
        return self.compute_w * self.compute_s[LOCAL], offload, offload

    def estimated_latency_s(self, target: int) -> float:
        """One target's latency estimate (policies that compare targets call latency_estimates_s once)."""
        return self.latency_estimates_s()[target]

    def estimated_energy_j(self, target: int) -> float:
        """One target's energy estimate."""
        return self.energy_estimates_j()[target]


class Policy(Protocol):
    name: str
    uses_observation: bool  # optional; False lets the world skip filling the observation
    uses_outcomes: bool  # optional; False lets the world skip observe() (the policy does not learn)

    def decide(self, obs: Observation) -> int: ...

    def observe(self, target: int, latency_s: float, energy_j: float, met_deadline: bool, request: int) -> None: ...


class _Fixed:
    uses_observation = False  # the world skips filling the observation for it
    uses_outcomes = False

    def __init__(self, name: str, target: int):
        self.name, self._target = name, target

    def decide(self, obs: Observation) -> int:
        return self._target

    def observe(self, target: int, latency_s: float, energy_j: float, met_deadline: bool, request: int) -> None:
        pass


class GreedyLatency(_Fixed):
    """Minimum estimated latency over local, edge and cloud."""

    uses_observation = True

    def __init__(self, name: str = "greedy"):
        super().__init__(name, LOCAL)

    def decide(self, obs: Observation) -> int:
        local, edge, cloud = obs.latency_estimates_s()
        if local <= edge and local <= cloud:
            return LOCAL
        return EDGE if edge <= cloud else CLOUD


class RandomTarget(_Fixed):
    """Draws the target with fixed probabilities (params p_local, p_edge, p_cloud; they are normalised)."""

    def __init__(self, rng: np.random.Generator, p_local: float = 1 / 3, p_edge: float = 1 / 3,
                 p_cloud: float = 1 / 3):
        super().__init__("random", LOCAL)
        weights = np.array([p_local, p_edge, p_cloud], dtype=float)
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


def _random(params: dict[str, Any], rng: np.random.Generator) -> Policy:
    allowed = {"p_local", "p_edge", "p_cloud"}
    unknown = set(params) - allowed
    if unknown:
        raise ValueError(f"policy 'random' has no parameter {', '.join(map(repr, sorted(unknown)))}; allowed: "
                         f"{', '.join(sorted(allowed))}")
    return RandomTarget(rng, **{k: float(v) for k, v in params.items()})


PolicyFactory = Callable[[dict[str, Any], np.random.Generator], Policy]


def _no_params(name: str, make: Callable[[], Policy]) -> PolicyFactory:
    def factory(params: dict[str, Any], rng: np.random.Generator) -> Policy:
        if params:
            raise ValueError(f"policy {name!r} takes no parameters, got {', '.join(map(repr, params))}")
        return make()

    return factory


_BUILTIN: dict[str, PolicyFactory] = {
    "local": _no_params("local", lambda: _Fixed("local", LOCAL)),
    "edge": _no_params("edge", lambda: _Fixed("edge", EDGE)),
    "cloud": _no_params("cloud", lambda: _Fixed("cloud", CLOUD)),
    "greedy": _no_params("greedy", lambda: GreedyLatency("greedy")),
    "greedy-latency": _no_params("greedy-latency", lambda: GreedyLatency("greedy-latency")),
    "random": _random,
}


def _with_params(name: str, cls, allowed: tuple[str, ...]) -> PolicyFactory:
    def factory(params: dict[str, Any], rng: np.random.Generator) -> Policy:
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise ValueError(f"policy {name!r} has no parameter {', '.join(map(repr, unknown))}; allowed: "
                             f"{', '.join(allowed) or 'none'}")
        return cls(**{k: float(v) for k, v in params.items()})

    return factory


def _library() -> dict[str, PolicyFactory]:
    from sim import policy_library as lib

    return {
        "deadline-energy": _with_params("deadline-energy", lib.DeadlineEnergy, ("accuracy_weight",)),
        "battery-threshold": _with_params("battery-threshold", lib.BatteryThreshold, ("threshold",)),
        "lyapunov": _with_params("lyapunov", lib.Lyapunov, ("V", "energy_budget_j", "phi", "accuracy_weight")),
        "linucb": _with_params("linucb", lib.LinUCB, ("alpha", "lambda_energy", "miss_penalty")),
        "oracle": _with_params("oracle", lib.Oracle, ()),
    }


def registry() -> dict[str, PolicyFactory]:
    """Built-in policies plus those installed under the `edgefed.policies` entry-point group."""
    found = {**_BUILTIN, **_library()}
    for ep in entry_points(group="edgefed.policies"):
        found.setdefault(ep.name, ep.load())
    return found


def make_policy(name: str, params: dict[str, Any], rng: np.random.Generator) -> Policy:
    policies = registry()
    if name not in policies:
        raise ValueError(f"unknown policy {name!r}; allowed: {', '.join(sorted(policies))}")
    return policies[name](dict(params), rng)
