"""Shared links: processor sharing (equal fair share) with a virtual-time heap, O(log n) per flow event."""
from __future__ import annotations

import heapq
from typing import Callable

import simpy


class SharedLink:
    """A link of fixed capacity whose n active flows each progress at capacity/n.

    Virtual time V counts the bytes that every active flow has received since the link was
    built; it advances at rate capacity/n. A flow of S bytes arriving at virtual time V0
    finishes when V reaches V0 + S, so flows sit in a heap keyed by that finish tag and only
    the head needs a wake-up event. Superseded wake-ups are recognised by a generation number.
    """

    def __init__(self, env: simpy.Environment, capacity_bps: float, name: str = "link"):
        self.env = env
        self.name = name
        self.bytes_per_s = capacity_bps / 8.0
        self._vtime = 0.0
        self._last = 0.0
        self._heap: list[tuple[float, int, Callable[[int], None], int]] = []
        self._seq = 0
        self._generation = 0
        self.busy_s = 0.0  # time with at least one active flow
        self.bytes_carried = 0.0

    @property
    def active_flows(self) -> int:
        return len(self._heap)

    def _advance(self) -> None:
        now = self.env.now
        n = len(self._heap)
        if n:
            elapsed = now - self._last
            self._vtime += elapsed * self.bytes_per_s / n
            self.busy_s += elapsed
        self._last = now

    def set_capacity(self, capacity_bps: float) -> None:
        """Change the link rate from now on (a bandwidth trace); flows in progress keep their progress."""
        self._advance()
        self.bytes_per_s = capacity_bps / 8.0
        self._wake_for_head()

    def counters(self) -> tuple[float, float]:
        """(busy seconds, bytes carried) so far, brought up to the current instant."""
        self._advance()
        return self.busy_s, self.bytes_carried

    def send(self, nbytes: float, on_done: Callable[[int], None], token: int) -> None:
        """Start a flow of nbytes; call on_done(token) when its last byte is delivered."""
        self._advance()
        self._seq += 1
        heapq.heappush(self._heap, (self._vtime + nbytes, self._seq, on_done, token))
        self.bytes_carried += nbytes
        self._wake_for_head()

    def _wake_for_head(self) -> None:
        heap = self._heap
        if not heap:
            return
        self._generation += 1
        delay = (heap[0][0] - self._vtime) * len(heap) / self.bytes_per_s
        wake = self.env.timeout(delay if delay > 0.0 else 0.0, self._generation)
        wake.callbacks.append(self._on_wake)

    def _on_wake(self, event: simpy.Event) -> None:
        if event._value != self._generation:  # superseded by a later arrival or departure
            return
        self._advance()
        heap = self._heap
        finished = [heapq.heappop(heap)]
        # flows whose tags tie with the head (within rounding) finish at the same instant
        limit = self._vtime * (1.0 + 1e-12) + 1e-9
        while heap and heap[0][0] <= limit:
            finished.append(heapq.heappop(heap))
        if heap:
            self._wake_for_head()
        for _, _, on_done, token in finished:
            on_done(token)
