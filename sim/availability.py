"""When each device may train: always, in a daily local-time window (charging, on WiFi), or from a trace.

Simulated time 0 is local midnight of the data's start day (the clients read hour `t // 3600` of their series).
"""
from __future__ import annotations

import bisect
import math
from typing import Protocol

import numpy as np

from sim.scenario_async import read_availability

DAY_S = 86400.0


class Availability(Protocol):
    def available(self, dev: int, t: float) -> bool:
        """Whether device `dev` may train at time `t` (s)."""

    def until(self, dev: int, t: float) -> float:
        """When the availability interval holding `t` ends (inf if it never does; `t` if unavailable now)."""


class Always:
    def available(self, dev: int, t: float) -> bool:
        return True

    def until(self, dev: int, t: float) -> float:
        return math.inf


class Diurnal:
    """Available daily from `opens_s` to `closes_s` after local midnight, each device's window shifted by its own
    offset (uniform in +-jitter: households plug in at different times)."""

    def __init__(self, opens_s: float, closes_s: float, offsets_s: np.ndarray):
        self.opens_s = opens_s
        self.length_s = (closes_s - opens_s) % DAY_S  # a window past midnight wraps
        self.offsets_s = offsets_s

    def _into_window(self, dev: int, t: float) -> float:
        return (t - self.opens_s - float(self.offsets_s[dev])) % DAY_S

    def available(self, dev: int, t: float) -> bool:
        return self._into_window(dev, t) < self.length_s

    def until(self, dev: int, t: float) -> float:
        into = self._into_window(dev, t)
        return t + self.length_s - into if into < self.length_s else t


class Trace:
    """Available in the listed intervals only; a device the trace does not list never trains."""

    def __init__(self, rows: list[tuple[int, float, float]], n_devices: int):
        merged: list[list[tuple[float, float]]] = [[] for _ in range(n_devices)]
        for dev, start, end in sorted(rows):
            spans = merged[dev]
            if spans and start <= spans[-1][1]:  # overlapping or touching: one interval, so until() sees its end
                spans[-1] = (spans[-1][0], max(spans[-1][1], end))
            else:
                spans.append((start, end))
        self.starts = [[s for s, _ in spans] for spans in merged]
        self.ends = [[e for _, e in spans] for spans in merged]

    def _interval(self, dev: int, t: float) -> int:
        i = bisect.bisect_right(self.starts[dev], t) - 1
        return i if i >= 0 and t < self.ends[dev][i] else -1

    def available(self, dev: int, t: float) -> bool:
        return self._interval(dev, t) >= 0

    def until(self, dev: int, t: float) -> float:
        i = self._interval(dev, t)
        return self.ends[dev][i] if i >= 0 else t


def make_availability(settings, n_devices: int, rng: np.random.Generator) -> Availability:
    """The scenario's `federation.availability`; `rng` (a named stream) draws only the diurnal offsets."""
    if settings.kind == "always":
        return Always()
    if settings.kind == "diurnal":
        opens, closes = settings.window_s
        return Diurnal(opens, closes, rng.uniform(-settings.jitter_s, settings.jitter_s, n_devices))
    return Trace(read_availability(settings.file), n_devices)
