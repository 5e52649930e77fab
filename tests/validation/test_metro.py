"""Multi-hop paths against theory: an idle path costs the sum of its hops exactly; a loaded metro link is
M/G/1-PS (mean transfer time S/C / (1 - rho), whatever the size distribution), within 2%."""
from __future__ import annotations

import numpy as np
import pytest

from sim import scenario as scenarios
from sim.world import World

TOLERANCE = 0.02  # relative, on the mean
FAST_ACCESS = {"base": "wifi", "up_bps": 1e10, "down_bps": 1e10, "promotion_s": 0.0, "tail_s": 0.0}


def _line(fleet: list[dict], metro_bps: float, n_sites: int = 3, **changes) -> scenarios.Scenario:
    data = {"name": "metro", "seed": 5, "duration": "1h", "policy": {"name": "edge", "params": {"site": n_sites - 1}},
            "links": {"fast": FAST_ACCESS},
            "sites": [{"name": f"s{i}", "position": [1000.0 * i, 0.0], "cells": [{"name": f"c{i}", "link": "fast"}]}
                      for i in range(n_sites)],
            "metro": [{"between": [f"s{i}", f"s{i + 1}"], "bandwidth": f"{metro_bps!r}bps", "rtt": "3ms"}
                      for i in range(n_sites - 1)],
            "fleet": fleet, "federation": {"enabled": False}}
    data.update(changes)
    return scenarios.parse(data, "metro")


def test_an_idle_multi_hop_path_costs_exactly_the_sum_of_its_hops():
    device = {"profile": "raspberry-pi-4", "count": 1, "link": "fast", "site": "s0",
              "workload": {"kind": "periodic", "rate": "1/min", "deadline": "1s"}}
    world = World(_line([device], 2e6))
    world.run()
    t = world.table()
    topology, access = world.topology, world.scenario.link_profile("fast")
    bits_up, bits_down = world.up_bytes * 8.0, world.down_bytes * 8.0
    hops = 2
    expected = (bits_up / access.up_bps + hops * bits_up / 2e6 + topology.sites[2].compute_s
                + access.rtt_s + hops * 0.003 + hops * bits_down / 2e6 + bits_down / access.down_bps)
    assert len(t["latency_s"]) == 60
    np.testing.assert_allclose(t["latency_s"], expected, rtol=1e-6)  # float32 column
    np.testing.assert_allclose(t["propagation_s"], access.rtt_s + hops * 0.003, rtol=1e-6)


@pytest.mark.slow  # 10 s a load: the full suite runs both
@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_a_loaded_metro_link_is_processor_sharing(rho):
    """Poisson requests from 200 devices cross one metro hop to the next site; the access links are so fast
    that the metro hop is the only shared resource that matters. Each direction is its own M/G/1-PS link."""
    devices, rate = 200, 1.0  # requests per second per device
    fleet = [{"profile": "raspberry-pi-4", "count": devices, "link": "fast", "site": "s0",
              "workload": {"kind": "poisson", "rate": f"{rate!r}/s", "deadline": "1s"}}]
    probe = World(_line(fleet, 1e6, n_sites=2))
    bits_up, bits_down = probe.up_bytes * 8.0, probe.down_bytes * 8.0
    capacity = devices * rate * bits_up / rho  # the uplink direction at load rho
    world = World(_line(fleet, capacity, n_sites=2))
    world.run()
    t = world.table()
    access = world.scenario.link_profile("fast")
    lam = devices * rate

    def ps(bits: float, c: float) -> float:
        return bits / c / (1.0 - lam * bits / c)

    expected = ps(bits_up, access.up_bps) + ps(bits_up, capacity) + ps(bits_down, capacity) \
        + ps(bits_down, access.down_bps)
    served = ~np.isnan(t["latency_s"])
    warm = t["arrival_s"] > 60.0  # drop the empty-network start
    measured = float(np.mean(t["transfer_s"][served & warm].astype(np.float64)))
    assert abs(measured / expected - 1.0) < TOLERANCE, (measured, expected)
