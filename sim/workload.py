"""Request arrivals for the whole fleet, generated in vectorised chunks from the workload stream."""
from __future__ import annotations

from typing import Iterator

import numpy as np

POISSON, PERIODIC = 0, 1


def arrival_chunks(rng: np.random.Generator, kinds: np.ndarray, rates: np.ndarray, duration_s: float,
                   target_per_chunk: int = 1 << 16) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (times, devices) sorted by time, chunk after chunk, covering [0, duration_s).

    Poisson devices: a Poisson count per chunk with uniform times (the same process, cheaper to
    draw). Periodic devices: a random phase per device, then every 1/rate seconds.
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
        all_times = np.concatenate(times)
        all_devs = np.concatenate(devs)
        order = np.argsort(all_times, kind="stable")
        yield all_times[order], all_devs[order].astype(np.int64)
        start = end
