"""Retrying locally after a timeout (`timeouts.retry_local`): with the cloud down, every request sent there is
run on its device from its timeout on, so its latency is exactly the timeout plus its local run; nothing else
moves, and with retry off the same requests time out as before."""
from __future__ import annotations

import numpy as np
import pytest

from sim import scenario as scenarios
from sim.policies import CLOUD, LOCAL
from sim.recorder import SERVED, TIMEOUT
from sim.world import World

DOWN_FROM, DOWN_TO, TIMEOUT_S = 300.0, 720.0, 2.0


def _run(retry: bool) -> World:
    """Ten phones (batteries) sending every request to the cloud every 10 s: idle CPUs at every timeout."""
    data = {"name": "retry", "seed": 4, "duration": "20min", "policy": {"name": "cloud"},
            "profiles": {"smartphone": {"lstm_flops_per_s": 2e6}},  # a slow model runtime: local runs take ms
            "fleet": [{"profile": "smartphone", "count": 10, "link": "wifi",
                       "workload": {"kind": "periodic", "rate": "6/min", "deadline": "1s"}}],
            "outages": [{"component": "cloud", "at": f"{DOWN_FROM:g}s", "for": f"{DOWN_TO - DOWN_FROM:g}s"}],
            "timeouts": {"deadlines": TIMEOUT_S, "retry_local": retry}, "federation": {"enabled": False}}
    world = World(scenarios.parse(data, "retry"))
    world.run()
    return world


@pytest.fixture(scope="module")
def runs():
    return _run(True), _run(False)


def test_each_request_sent_to_the_dead_cloud_is_served_locally_after_its_timeout(runs):
    world, _ = runs
    t = world.table()
    a = t["arrival_s"]
    window = (a > DOWN_FROM) & (a < DOWN_TO - 0.1)  # the upload takes milliseconds: these reach a dead cloud
    assert window.sum() >= 400
    retried = t["retried"] == 1
    assert np.all(retried[window]) and not np.any(t["dropped"] == TIMEOUT)
    assert np.all(t["target"][retried] == LOCAL) and np.all(t["dropped"][retried] == SERVED)
    assert np.all(t["site"][retried] == -1) and np.all(t["propagation_s"][retried] == 0)
    local_s = np.asarray(world.fleet.local_compute_s)[t["device"][retried]]
    assert 0.001 < local_s.min() and local_s.max() < 5.0  # a real local run, done long before the next request
    np.testing.assert_array_equal(t["queue_s"][retried], 0.0)  # an idle device: it starts at the timeout
    np.testing.assert_allclose(t["latency_s"][retried], TIMEOUT_S + local_s, rtol=1e-6)  # float32 column
    np.testing.assert_allclose(t["compute_s"][retried], local_s, rtol=1e-6)
    # its compute joules, as a local request's, came out of the battery: the devices ran nothing else locally
    compute_j = np.bincount(t["device"][retried], t["energy_compute_j"][retried], minlength=10)
    np.testing.assert_allclose(world.energy.spent["compute"], compute_j, rtol=1e-5)
    dynamic_w = np.asarray(world.energy.dynamic_w)[t["device"][retried]]
    np.testing.assert_allclose(t["energy_compute_j"][retried], dynamic_w * local_s, rtol=1e-6)
    summary = world.outages.summary()
    assert summary["retried_local"] == summary["timeouts"] == retried.sum()
    assert summary["components"]["cloud"]["timeouts"] == retried.sum()


def test_without_retry_the_same_requests_time_out_and_nothing_else_moves(runs):
    on, off = (w.table() for w in runs)
    retried = on["retried"] == 1
    assert np.array_equal(retried, off["dropped"] == TIMEOUT) and not np.any(off["retried"])
    assert np.all(np.isnan(off["latency_s"][retried])) and np.all(off["target"][retried] == CLOUD)
    assert runs[1].energy.spent["compute"] == [0.0] * 10 and "retried_local" not in runs[1].outages.summary()
    for column in ("arrival_s", "device", "target", "latency_s", "queue_s", "transfer_s", "dropped",
                   "energy_radio_j"):
        np.testing.assert_array_equal(on[column][~retried], off[column][~retried], err_msg=column)
    # the offload attempt's radio work is the same either way: the retry adds compute, not radio
    np.testing.assert_array_equal(on["energy_radio_j"][retried], off["energy_radio_j"][retried])
