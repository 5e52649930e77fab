"""FIFO multi-core servers (device CPUs, the edge server, the cloud) as an exact Lindley recursion."""
from __future__ import annotations

import heapq


class FifoServer:
    """c identical cores and one FIFO queue.

    Jobs are admitted in arrival order, so a job starts when it arrives or when the earliest
    core frees, whichever is later: the queue needs no events of its own, only the job's
    completion does. Exact for FIFO M/M/c and G/G/c.
    """

    __slots__ = ("free_at", "busy_s", "cores")

    def __init__(self, cores: int):
        self.cores = cores
        self.free_at = [0.0] * cores  # a heap: when each core is next free
        self.busy_s = 0.0

    def admit(self, now: float, service_s: float) -> float:
        """Queue a job arriving at `now`; return when it starts."""
        free_at = self.free_at
        start = free_at[0] if free_at[0] > now else now
        heapq.heapreplace(free_at, start + service_s)
        self.busy_s += service_s
        return start

    def wait_s(self, now: float) -> float:
        """How long a job arriving now would wait."""
        first = self.free_at[0]
        return first - now if first > now else 0.0
