"""Request arrivals for the whole fleet, generated in vectorised chunks from the workload stream."""
from __future__ import annotations

from typing import Iterator

import numpy as np

POISSON, PERIODIC, BURSTY = 0, 1, 2
KINDS = {"poisson": POISSON, "periodic": PERIODIC, "bursty": BURSTY}


class Bursty:
    """Two-state Markov-modulated Poisson processes, one per bursty device, carried across chunks.

    Sojourns are exponential (means mean_burst, mean_calm); the calm rate is chosen so the
    long-run mean rate equals the configured rate: r_calm = rate (b + c) / (ratio b + c).
    """

    def __init__(self, rng: np.random.Generator, devices: np.ndarray, rates: np.ndarray, ratio: np.ndarray,
                 mean_burst: np.ndarray, mean_calm: np.ndarray):
        self.devices = devices
        self.calm_rate = rates * (mean_burst + mean_calm) / (ratio * mean_burst + mean_calm)
        self.burst_rate = self.calm_rate * ratio
        self.mean_burst, self.mean_calm = mean_burst, mean_calm
        p_burst = mean_burst / (mean_burst + mean_calm)
        self.in_burst = rng.random(len(devices)) < p_burst  # start in the stationary distribution
        self.switch_at = rng.exponential(np.where(self.in_burst, mean_burst, mean_calm))

    def draw(self, rng: np.random.Generator, start: float, end: float) -> tuple[list, list]:
        """Each device's arrivals in [start, end): (times arrays, [their devices]). The state is read into Python
        lists for the loop (a numpy scalar costs several list reads); the draws and their order are the same."""
        switch_at, in_burst = self.switch_at.tolist(), self.in_burst.tolist()
        burst_rate, calm_rate = self.burst_rate.tolist(), self.calm_rate.tolist()
        mean_burst, mean_calm = self.mean_burst.tolist(), self.mean_calm.tolist()
        poisson, uniform, exponential = rng.poisson, rng.uniform, rng.exponential
        times, owners, counts = [], [], []
        for i, dev in enumerate(self.devices.tolist()):
            t = start
            while t < end:
                switch = switch_at[i]
                stop = min(switch, end)
                count = poisson((burst_rate[i] if in_burst[i] else calm_rate[i]) * (stop - t))
                if count:  # (no times to draw: the stream is where it would be after an empty draw)
                    times.append(uniform(t, stop, count))
                    owners.append(dev)
                    counts.append(count)
                if stop == switch:
                    in_burst[i] = not in_burst[i]
                    switch_at[i] = switch + exponential(mean_burst[i] if in_burst[i] else mean_calm[i])
                t = stop
        self.switch_at[:], self.in_burst[:] = switch_at, in_burst
        return times, [np.repeat(np.array(owners, np.int64), counts)]


def arrival_chunks(rng: np.random.Generator, kinds: np.ndarray, rates: np.ndarray, duration_s: float,
                   target_per_chunk: int = 1 << 16, bursty: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
                   ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (times, devices) sorted by time, chunk after chunk, covering [0, duration_s).

    Poisson devices: a Poisson count per chunk with uniform times (the same process, cheaper to
    draw). Periodic devices: a random phase per device, then every 1/rate seconds. Bursty
    devices: see Bursty; `bursty` gives per-device (burst ratio, mean burst s, mean calm s).
    The draws depend only on the workload stream, so every policy sees the same arrivals.
    """
    total_rate = float(rates.sum())
    if total_rate <= 0.0 or duration_s <= 0.0:
        return
    chunk = min(duration_s, max(1.0, target_per_chunk / total_rate))
    poisson = np.flatnonzero(kinds == POISSON)
    periodic = np.flatnonzero(kinds == PERIODIC)
    period = 1.0 / rates[periodic]
    phase = rng.uniform(0.0, 1.0, len(periodic)) * period
    burst_devs = np.flatnonzero(kinds == BURSTY)
    bursts = None
    if len(burst_devs):
        ratio, mean_burst, mean_calm = (np.asarray(a, float)[burst_devs] for a in bursty)
        bursts = Bursty(rng, burst_devs, rates[burst_devs], ratio, mean_burst, mean_calm)
    start = 0.0
    while start < duration_s:
        end = min(start + chunk, duration_s)
        counts = rng.poisson(rates[poisson] * (end - start))
        devs = [np.repeat(poisson, counts)]
        times = [rng.uniform(start, end, int(counts.sum()))]
        if len(periodic):
            first = np.ceil((start - phase) / period)
            last = np.ceil((end - phase) / period)  # exclusive
            k = (last - first).astype(np.int64).clip(min=0)
            owners = np.repeat(np.arange(len(periodic)), k)
            offsets = np.arange(int(k.sum())) - np.repeat(np.cumsum(k) - k, k)
            devs.append(periodic[owners])
            times.append(phase[owners] + (first[owners] + offsets) * period[owners])
        if bursts is not None:
            more_times, more_devs = bursts.draw(rng, start, end)
            times += more_times
            devs += more_devs
        all_times = np.concatenate(times)
        all_devs = np.concatenate(devs)
        order = np.argsort(all_times, kind="stable")
        yield all_times[order], all_devs[order].astype(np.int64)
        start = end
