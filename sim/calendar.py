"""The hot path's event list: plain callbacks kept in a heap of their own, nested in SimPy's event loop.

A SimPy event costs an Event object, a schedule and a step. The request path schedules millions of
wake-ups that nobody yields on, so it keeps them as (time, seq, function, argument) tuples in its
own heap and holds exactly one entry in SimPy's queue: a wake-up at its earliest time. When SimPy
reaches that wake-up, the calendar runs its entries in time order for as long as they come strictly
before SimPy's next event, advancing the environment's clock itself, then hands control back. So
processes (the FL coordinator, samplers, `env.run(until=...)`) interleave with the calendar exactly
as with ordinary events; at equal times SimPy's events go first (those of a priority after NORMAL last), the
calendar's entries in the order they were scheduled.

A presorted stream (the fleet's request arrivals) is fed in without heap operations at all:
`feed(chunks, function)` merges it with the heap as it runs.
"""
from __future__ import annotations

from heapq import heappop, heappush
from itertools import count
from typing import Any, Callable, Iterator

import simpy
from simpy.events import NORMAL

INFINITY = float("inf")
LAST_IN_INSTANT = NORMAL + 1  # after every URGENT and NORMAL event of the same simulated instant


class EndOfInstant(simpy.events.Event):
    """Fires at the current simulated time after every other event of that instant, calendar entries and events
    scheduled later in the instant included (SimPy orders its queue by time, then priority; the calendar lets
    such an event wait). Built as SimPy builds its own Initialize event: already ok, scheduled at once."""

    def __init__(self, env: simpy.Environment):
        super().__init__(env)
        self._ok, self._value = True, None
        env.schedule(self, LAST_IN_INSTANT)


class _WakeUp:
    """What SimPy's step() needs of an event: `callbacks` it can clear and `_ok`."""

    __slots__ = ("callbacks", "_ok")

    def __init__(self, callback: Callable[[Any], None]):
        self.callbacks = (callback,)
        self._ok = True


class Calendar:
    """Callbacks at simulated times: `at(time, function, argument)` calls `function(argument)` at `time`."""

    __slots__ = ("env", "_heap", "_seq", "_wake", "_wake_at", "_run", "_feed", "_feed_function", "_feed_times",
                 "_feed_arguments", "_feed_next", "_feed_at")

    def __init__(self, env: simpy.Environment):
        self.env = env
        self._heap: list[tuple[float, int, Callable[[Any], None], Any]] = []
        self._seq = count()
        self._wake: _WakeUp | None = None  # our one live entry in SimPy's queue
        self._wake_at = INFINITY  # its time; -inf while the calendar is running (it reschedules on leaving)
        self._run = self._run_due
        # the fed stream: the current chunk, the index of its next item and that item's time (inf: none left)
        self._feed: Iterator[tuple[list[float], list[Any]]] = iter(())
        self._feed_function: Callable[[Any], None] | None = None
        self._feed_times: list[float] = []
        self._feed_arguments: list[Any] = []
        self._feed_next = 0
        self._feed_at = INFINITY

    def __len__(self) -> int:
        return len(self._heap)

    def at(self, time: float, function: Callable[[Any], None], argument: Any = None) -> None:
        """Call function(argument) at simulated `time` (>= now)."""
        heappush(self._heap, (time, next(self._seq), function, argument))
        if time < self._wake_at:
            self._schedule(time)

    def feed(self, chunks: Iterator[tuple[list[float], list[Any]]], function: Callable[[Any], None]) -> None:
        """Call function(argument) at each time of a stream of (times, arguments) chunks, sorted by time.

        At equal times a fed item runs before heap entries. One stream per calendar.
        """
        if self._feed_function is not None:
            raise RuntimeError("a calendar takes one fed stream")
        self._feed, self._feed_function = chunks, function
        self._next_chunk()
        if self._feed_at < self._wake_at:
            self._schedule(self._feed_at)

    def _next_chunk(self) -> None:
        for times, arguments in self._feed:
            if times:
                self._feed_times, self._feed_arguments, self._feed_next = times, arguments, 0
                self._feed_at = times[0]
                return
        self._feed_at = INFINITY

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
        # the fed stream's state in locals while running (written back on leaving)
        function, times, arguments = self._feed_function, self._feed_times, self._feed_arguments
        i, feed_at, chunk_size = self._feed_next, self._feed_at, len(self._feed_times)
        try:
            while True:
                if heap and heap[0][0] < feed_at:
                    time, _, entry_function, argument = heap[0]
                    # SimPy's next event comes first, or ties at NORMAL or URGENT priority: let it run (an event
                    # scheduled later in the instant, like server.asynchronous.EndOfInstant, waits for us)
                    if queue and queue[0][0] <= time and (queue[0][0] < time or queue[0][1] <= NORMAL):
                        break
                    heappop(heap)
                    env._now = time
                    entry_function(argument)
                elif feed_at != INFINITY:
                    if queue and queue[0][0] <= feed_at and (queue[0][0] < feed_at or queue[0][1] <= NORMAL):
                        break
                    env._now = feed_at
                    argument = arguments[i]
                    i += 1
                    if i < chunk_size:
                        feed_at = times[i]
                    else:
                        self._next_chunk()
                        times, arguments, i, feed_at = (self._feed_times, self._feed_arguments, self._feed_next,
                                                        self._feed_at)
                        chunk_size = len(times)
                    function(argument)
                else:
                    break
        finally:
            self._feed_next, self._feed_at = i, feed_at
            self._wake_at = INFINITY
            following = heap[0][0] if heap and heap[0][0] < self._feed_at else self._feed_at
            if following != INFINITY:
                self._schedule(following)
