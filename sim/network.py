"""Shared links: processor sharing (equal fair share) with a virtual-time heap, O(log n) per flow event."""
from __future__ import annotations

from heapq import heappop, heappush
from typing import Callable

from sim.calendar import Calendar


class SharedLink:
    """A link of fixed capacity whose n active flows each progress at capacity/n.

    Virtual time V counts the bytes that every active flow has received since the link was
    built; it advances at rate capacity/n. A flow of S bytes arriving at virtual time V0
    finishes when V reaches V0 + S, so flows sit in a heap keyed by that finish tag and only
    the head needs a wake-up (a calendar entry). Superseded wake-ups are recognised by a
    generation number, which also orders flows with equal tags by arrival.
    """

    def __init__(self, calendar: Calendar, capacity_bps: float, name: str = "link"):
        self.calendar = calendar
        self.env = calendar.env
        self.name = name
        self.bytes_per_s = capacity_bps / 8.0
        self._vtime = 0.0
        self._last = 0.0
        self._heap: list[tuple[float, int, Callable[[int], None], object]] = []
        self._generation = 0
        self._wake = self._on_wake
        self.busy_s = 0.0  # time with at least one active flow
        self.bytes_carried = 0.0
        self.down = False  # an outage (sim.outages): flows stall until the repair
        self._rate_when_up = self.bytes_per_s

    @property
    def capacity_bps(self) -> float:
        """The link's rate when it is up (a bandwidth trace's latest), whether or not it is down now."""
        return self._rate_when_up * 8.0

    @property
    def active_flows(self) -> int:
        return len(self._heap)

    def _advance(self, now: float) -> None:
        n = len(self._heap)
        if n:
            elapsed = now - self._last
            self._vtime += elapsed * self.bytes_per_s / n
            self.busy_s += elapsed
        self._last = now

    def set_capacity(self, capacity_bps: float) -> None:
        """Change the link rate from now on (a bandwidth trace); flows in progress keep their progress."""
        self._rate_when_up = capacity_bps / 8.0
        if self.down:  # the trace's rate applies from the repair on
            return
        now = self.env._now
        self._advance(now)
        self.bytes_per_s = capacity_bps / 8.0
        if self._heap:
            self._wake_for_head(now)

    def stall(self) -> None:
        """The link goes down: its flows keep the bytes they got and wait, and new flows join them, until
        resume() (TCP retransmitting into a dead link). Off the hot path: send is swapped on this instance only."""
        if self.down:
            return
        self._advance(self.env._now)
        self.down, self._rate_when_up, self.bytes_per_s = True, self.bytes_per_s, 0.0
        self._generation += 1  # the pending wake-up is superseded: nothing finishes while down
        self.send = self._send_stalled  # the instance attribute shadows the class's send

    def resume(self) -> None:
        """The link is repaired: its flows go on from where they stalled, at the rate it had (or a trace set)."""
        if not self.down:
            return
        now = self.env._now
        self._advance(now)
        self.down, self.bytes_per_s = False, self._rate_when_up
        del self.send
        if self._heap:
            self._wake_for_head(now)

    def _send_stalled(self, nbytes: float, on_done: Callable[[object], None], token: object) -> None:
        """send while the link is down: the flow joins the heap and waits for resume()."""
        self._advance(self.env._now)
        self._generation += 1
        heappush(self._heap, (self._vtime + nbytes, self._generation, on_done, token))
        self.bytes_carried += nbytes

    def counters(self) -> tuple[float, float]:
        """(busy seconds, bytes carried) so far, brought up to the current instant."""
        self._advance(self.env._now)
        return self.busy_s, self.bytes_carried

    def send(self, nbytes: float, on_done: Callable[[object], None], token: object) -> None:
        """Start a flow of nbytes; call on_done(token) when its last byte is delivered."""
        now = self.env._now
        heap = self._heap
        n = len(heap)
        vtime = self._vtime
        if n:  # _advance, inlined: this is the hot path
            elapsed = now - self._last
            vtime += elapsed * self.bytes_per_s / n
            self._vtime = vtime
            self.busy_s += elapsed
        self._last = now
        # one counter serves as the flows' tie-break (push order) and as the wake-up generation
        generation = self._generation + 1
        self._generation = generation
        heappush(heap, (vtime + nbytes, generation, on_done, token))
        self.bytes_carried += nbytes
        # _wake_for_head, inlined (calling it costs 4% of the bench's requests/s)
        delay = (heap[0][0] - vtime) * (n + 1) / self.bytes_per_s
        self.calendar.at(now + delay if delay > 0.0 else now, self._wake, generation)

    def _wake_for_head(self, now: float) -> None:
        heap = self._heap
        self._generation += 1
        delay = (heap[0][0] - self._vtime) * len(heap) / self.bytes_per_s
        self.calendar.at(now + delay if delay > 0.0 else now, self._wake, self._generation)

    def _on_wake(self, generation: int) -> None:
        if generation != self._generation:  # superseded by a later arrival or departure
            return
        now = self.env._now
        heap = self._heap
        elapsed = now - self._last  # _advance, inlined; a live wake-up means at least one flow
        self._vtime += elapsed * self.bytes_per_s / len(heap)
        self.busy_s += elapsed
        self._last = now
        _, _, on_done, token = heappop(heap)
        if not heap:
            on_done(token)
            return
        finished = [(on_done, token)]
        # flows whose tags tie with the head (within rounding) finish at the same instant
        limit = self._vtime * (1.0 + 1e-12) + 1e-9
        while heap and heap[0][0] <= limit:
            _, _, on_done, token = heappop(heap)
            finished.append((on_done, token))
        if heap:
            self._wake_for_head(now)
        for on_done, token in finished:
            on_done(token)
