"""The hot path's event list: plain callbacks kept in a heap of their own, nested in SimPy's event loop.

A SimPy event costs an Event object, a schedule and a step. The request path schedules millions of
wake-ups that nobody yields on, so it keeps them as (time, seq, function, argument) tuples in its
own heap and holds exactly one entry in SimPy's queue: a wake-up at its earliest time. When SimPy
reaches that wake-up, the calendar runs its entries in time order for as long as they come strictly
before SimPy's next event, advancing the environment's clock itself, then hands control back. So
processes (the FL coordinator, samplers, `env.run(until=...)`) interleave with the calendar exactly
as with ordinary events; at equal times SimPy's events go first, the calendar's entries in the order
they were scheduled.
"""
from __future__ import annotations

from heapq import heappop, heappush
from itertools import count
from typing import Any, Callable

import simpy
from simpy.events import NORMAL

INFINITY = float("inf")


class _WakeUp:
    """What SimPy's step() needs of an event: `callbacks` it can clear and `_ok`."""

    __slots__ = ("callbacks", "_ok")

    def __init__(self, callback: Callable[[Any], None]):
        self.callbacks = (callback,)
        self._ok = True


class Calendar:
    """Callbacks at simulated times: `at(time, function, argument)` calls `function(argument)` at `time`."""

    __slots__ = ("env", "_heap", "_seq", "_wake", "_wake_at", "_run")

    def __init__(self, env: simpy.Environment):
        self.env = env
        self._heap: list[tuple[float, int, Callable[[Any], None], Any]] = []
        self._seq = count()
        self._wake: _WakeUp | None = None  # our one live entry in SimPy's queue
        self._wake_at = INFINITY  # its time; -inf while the calendar is running (it reschedules on leaving)
        self._run = self._run_due

    def __len__(self) -> int:
        return len(self._heap)

    def at(self, time: float, function: Callable[[Any], None], argument: Any = None) -> None:
        """Call function(argument) at simulated `time` (>= now)."""
        heappush(self._heap, (time, next(self._seq), function, argument))
        if time < self._wake_at:
            self._schedule(time)

    def _schedule(self, time: float) -> None:
        # an earlier entry supersedes the live wake-up; the old one stays in SimPy's queue and is ignored
        wake = self._wake = _WakeUp(self._run)
        self._wake_at = time
        env = self.env
        heappush(env._queue, (time, NORMAL, next(env._eid), wake))

    def _run_due(self, wake: _WakeUp) -> None:
        if wake is not self._wake:  # superseded by an earlier wake-up
            return
        self._wake = None
        self._wake_at = -INFINITY
        env, heap = self.env, self._heap
        queue = env._queue
        try:
            while heap:
                time, _, function, argument = heap[0]
                if queue and queue[0][0] <= time:  # SimPy's next event comes first (or ties): let it run
                    break
                heappop(heap)
                env._now = time
                function(argument)
        finally:
            self._wake_at = INFINITY
            if heap:
                self._schedule(heap[0][0])
