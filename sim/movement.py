"""Where moving devices are: random waypoint and position traces, vectorised over a fleet entry's devices.

Pure numpy, no events of their own: sim.mobility moves a model to each update instant (`move_to`) and reads
its `positions` ((n, 2) metres).
"""
from __future__ import annotations

import numpy as np

# legs one device may finish inside one update step (waypoint reached, pause over, next leg): beyond it the
# rest of the step is lost, which needs legs shorter than speed x update / 16
MAX_LEGS_PER_STEP = 16


class RandomWaypoint:
    """Random waypoint (Johnson and Maltz 1996, as surveyed by Camp, Boleng and Davies 2002): each device
    walks a straight leg to a waypoint drawn uniformly in the area at a speed drawn uniformly in
    [min, max], pauses there, and draws the next. Time is continuous: a step that ends a leg carries its
    remainder into the pause and the next leg, so the step size changes only when positions are looked at.

    Long-run mean speed (time average): E[L] / (E[L] E[1/V] + pause), with E[1/V] = ln(max/min) / (max - min)
    and E[L] the mean distance between two uniform points of the area (0.5214 x side for a square).
    Devices start at uniform positions, not the model's stationary (centre-heavy) distribution.
    """

    def __init__(self, n: int, area: tuple, speed: tuple[float, float], pause_s: float, rng: np.random.Generator):
        self._rng = rng
        self._low, self._high = np.array(area[0], float), np.array(area[1], float)
        self._speed_range = (float(speed[0]), float(speed[1]))
        self._pause_s = float(pause_s)
        self.positions = rng.uniform(self._low, self._high, (n, 2))
        self._target = rng.uniform(self._low, self._high, (n, 2))
        self._speed = rng.uniform(*self._speed_range, n)
        self._pause_left = np.zeros(n)
        self.now = 0.0

    def move_to(self, now: float) -> np.ndarray:
        """Move every device on to time `now`; returns the positions (the same array, updated)."""
        dt, self.now = now - self.now, now
        pos, target, speed, pause_left = self.positions, self._target, self._speed, self._pause_left
        left = np.full(len(pos), float(dt))
        for _ in range(MAX_LEGS_PER_STEP):
            waited = np.minimum(pause_left, left)
            pause_left -= waited
            left -= waited
            moving = left > 0.0
            if not moving.any():
                break
            delta = target - pos
            distance = np.hypot(delta[:, 0], delta[:, 1])
            reach = speed * left
            arrive = moving & (reach >= distance)
            going = moving & ~arrive
            if going.any():  # distance > reach > 0 for these
                pos[going] += delta[going] * (reach[going] / distance[going])[:, None]
                left[going] = 0.0
            done = np.flatnonzero(arrive)
            if not len(done):
                break
            pos[done] = target[done]
            left[done] = np.maximum(left[done] - distance[done] / speed[done], 0.0)
            target[done] = self._rng.uniform(self._low, self._high, (len(done), 2))
            speed[done] = self._rng.uniform(*self._speed_range, len(done))
            pause_left[done] = self._pause_s
        return pos


class TracePositions:
    """Positions from a trace: linear between a device's samples, held before its first and after its last."""

    def __init__(self, device: np.ndarray, time_s: np.ndarray, x: np.ndarray, y: np.ndarray, n: int):
        self._time, self._x, self._y = time_s, x, y
        members = np.arange(n)
        self._end = np.searchsorted(device, members, side="right") - 1  # each device's last sample
        self._at = np.searchsorted(device, members)  # its latest sample at or before the clock (or its first)
        self.now = 0.0
        self.positions = np.empty((n, 2))
        self._place()

    def move_to(self, now: float) -> np.ndarray:
        self.now = now
        self._place()
        return self.positions

    def _place(self) -> None:
        time_s, now, at = self._time, self.now, self._at
        while True:  # samples are sorted by (device, time): each device's pointer only moves forward
            later = np.minimum(at + 1, self._end)
            step = (later > at) & (time_s[later] <= now)
            if not step.any():
                break
            at[step] += 1
        after = np.minimum(at + 1, self._end)
        t0, t1 = time_s[at], time_s[after]
        weight = np.clip((now - t0) / np.where(t1 > t0, t1 - t0, 1.0), 0.0, 1.0)
        self.positions[:, 0] = self._x[at] + weight * (self._x[after] - self._x[at])
        self.positions[:, 1] = self._y[at] + weight * (self._y[after] - self._y[at])
