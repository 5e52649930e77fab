"""Bursty.draw reads its state as Python lists and skips empty draws: the arrivals are those of the plain loop
over numpy state, draw for draw (the same random stream, the same order)."""
from __future__ import annotations

import numpy as np

from sim.workload import BURSTY, POISSON, Bursty, arrival_chunks


def _plain_draw(self: Bursty, rng: np.random.Generator, start: float, end: float) -> tuple[list, list]:
    """The loop as first written: one Poisson count and one uniform draw per device and sojourn."""
    times, devs = [], []
    for i, dev in enumerate(self.devices.tolist()):
        t = start
        while t < end:
            stop = min(self.switch_at[i], end)
            rate = self.burst_rate[i] if self.in_burst[i] else self.calm_rate[i]
            count = rng.poisson(rate * (stop - t))
            times.append(rng.uniform(t, stop, count))
            devs.append(np.full(count, dev))
            if stop == self.switch_at[i]:
                self.in_burst[i] = not self.in_burst[i]
                self.switch_at[i] += rng.exponential(self.mean_burst[i] if self.in_burst[i] else self.mean_calm[i])
            t = stop
    return times, devs


def _arrivals() -> tuple[np.ndarray, np.ndarray]:
    n = 600
    kinds = np.where(np.arange(n) % 3 == 0, BURSTY, POISSON)
    rates = np.linspace(0.002, 0.2, n)  # some devices see no arrival in most chunks, some many
    bursty = (np.full(n, 5.0), np.linspace(5.0, 300.0, n), np.linspace(20.0, 900.0, n))
    chunks = list(arrival_chunks(np.random.default_rng(7), kinds, rates, 3600.0, target_per_chunk=2000,
                                 bursty=bursty))
    return np.concatenate([c[0] for c in chunks]), np.concatenate([c[1] for c in chunks])


def test_draw_gives_the_plain_loops_arrivals_bit_for_bit(monkeypatch):
    times, devices = _arrivals()
    monkeypatch.setattr(Bursty, "draw", _plain_draw)
    plain_times, plain_devices = _arrivals()
    assert len(times) > 20_000
    np.testing.assert_array_equal(times, plain_times)
    np.testing.assert_array_equal(devices, plain_devices)
