"""The queueing components against closed-form theory (M/M/1, M/M/c Erlang C, M/G/1-PS), stated tolerances."""
from __future__ import annotations

import math

import numpy as np
import pytest
import simpy

from sim.calendar import Calendar
from sim.network import SharedLink
from sim.servers import FifoServer

TOLERANCE = 0.02  # relative, on the mean


def _fifo_sojourns(cores: int, lam: float, mu: float, jobs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1.0 / lam, jobs))
    services = rng.exponential(1.0 / mu, jobs)
    server = FifoServer(cores)
    starts = np.fromiter((server.admit(a, s) for a, s in zip(arrivals.tolist(), services.tolist())), float, jobs)
    waits = starts - arrivals
    warm = jobs // 20  # drop the empty-system start
    return waits[warm:], (waits + services)[warm:]


@pytest.mark.parametrize("rho, jobs", [(0.5, 400_000), (0.8, 2_000_000)])
def test_mm1_mean_sojourn(rho, jobs):
    mu = 1.0
    _, sojourn = _fifo_sojourns(1, rho * mu, mu, jobs, seed=11)
    theory = 1.0 / (mu - rho * mu)
    assert abs(sojourn.mean() / theory - 1.0) < TOLERANCE, (sojourn.mean(), theory)


def _erlang_c_wait(c: int, lam: float, mu: float) -> float:
    a = lam / mu
    rho = a / c
    top = a**c / math.factorial(c) / (1.0 - rho)
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    return p_wait / (c * mu - lam)


def test_mmc_mean_wait_erlang_c():
    c, mu, rho = 4, 1.0, 0.8
    waits, _ = _fifo_sojourns(c, rho * c * mu, mu, 1_000_000, seed=5)
    theory = _erlang_c_wait(c, rho * c * mu, mu)
    assert abs(waits.mean() / theory - 1.0) < TOLERANCE, (waits.mean(), theory)


def _ps_transfer_times(sizes: np.ndarray, lam: float, capacity_bps: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1.0 / lam, len(sizes)))
    env = simpy.Environment()
    link = SharedLink(Calendar(env), capacity_bps)
    done = np.full(len(sizes), np.nan)

    def finished(i: int) -> None:
        done[i] = env.now

    def source():
        for i, (t, size) in enumerate(zip(arrivals.tolist(), sizes.tolist())):
            yield env.timeout(t - env.now)
            link.send(size, finished, i)

    env.process(source())
    env.run()
    warm = len(sizes) // 20
    return (done - arrivals)[warm:]


@pytest.mark.parametrize("sizes_kind", ["exponential", "deterministic"])
def test_processor_sharing_mean_transfer_time(sizes_kind):
    """M/G/1-PS: E[T] = E[S]/(1 - rho) whatever the size distribution (insensitivity)."""
    capacity_bps, mean_bytes, rho, flows = 8e6, 10_000.0, 0.6, 300_000
    mean_service = mean_bytes * 8 / capacity_bps
    rng = np.random.default_rng(3)
    sizes = rng.exponential(mean_bytes, flows) if sizes_kind == "exponential" else np.full(flows, mean_bytes)
    times = _ps_transfer_times(sizes, rho / mean_service, capacity_bps, seed=4)
    theory = mean_service / (1.0 - rho)
    assert abs(times.mean() / theory - 1.0) < TOLERANCE, (times.mean(), theory)


def test_processor_sharing_splits_capacity_equally():
    """Two equal flows started together finish together, at twice the solo transfer time."""
    env = simpy.Environment()
    link = SharedLink(Calendar(env), 8e6)
    finish = {}
    link.send(1e6, lambda i: finish.setdefault(i, env.now), 0)
    link.send(1e6, lambda i: finish.setdefault(i, env.now), 1)
    env.run()
    assert finish == {0: pytest.approx(2.0), 1: pytest.approx(2.0)}
