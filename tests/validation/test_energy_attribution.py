"""Radio energy billed to requests: promotion, transfer and the tail each request's transfers left.

A tail belongs to the request whose transfer ended when the radio went idle, whether it runs in full, is
cut short by the next transfer, or by the end of the run. Without federated learning every joule the
devices spend above idle is then some request's: the column sums to the ledgers.
"""
from __future__ import annotations

import numpy as np
import pytest

from sim import scenario as scenarios
from sim.energy import ACTIVE_COMPONENTS
from sim.catalogue import LINKS
from sim.recorder import BATTERY_EMPTY, SERVED, UNFINISHED
from sim.app.summary import summarize
from sim.world import World

LTE = LINKS["lte"]
NO_FEDERATION = {"enabled": False, "pretrain": {"rounds": 0}}


def _one_phone(policy: str, rate: str, duration: str) -> World:
    world = World(scenarios.parse({
        "name": "attribution", "seed": 1, "duration": duration, "policy": {"name": policy},
        "fleet": [{"profile": "smartphone", "count": 1, "link": "lte",
                   "workload": {"kind": "periodic", "rate": rate, "deadline": "1s"}}],
        "federation": NO_FEDERATION,
    }, "attribution"))
    world.run()
    return world


def _transfer_j(world: World) -> tuple[float, float, float]:
    """(uplink J, downlink J, seconds on the access link) of one request alone on an LTE link."""
    up_s, down_s = world.up_bytes * 8 / LTE.up_bps, world.down_bytes * 8 / LTE.down_bps
    up_j = LTE.a_up_w_per_mbps * world.up_bytes * 8e-6 + LTE.base_w * up_s
    down_j = LTE.a_down_w_per_mbps * world.down_bytes * 8e-6 + LTE.base_w * down_s
    return up_j, down_j, up_s + down_s


def test_an_isolated_lte_offload_pays_promotion_transfer_and_its_full_tail():
    world = _one_phone("cloud", "1/h", "1h")
    t = world.table()
    assert len(t["latency_s"]) == 1 and t["dropped"][0] == SERVED
    cloud = world.scenario.cloud
    # between the end of the upload and the start of the reply the radio is in the request's own tail
    between = (world.up_bytes * 8 / cloud.wan_up + world.topology.cloud_compute_s + LTE.rtt_s + world.wan_rtt_s
               + world.down_bytes * 8 / cloud.wan_down)
    up_j, down_j, access_s = _transfer_j(world)
    assert t["latency_s"][0] == pytest.approx(LTE.promotion_s + access_s + between, rel=1e-5)
    assert t["arrival_s"][0] + t["latency_s"][0] + LTE.tail_s < world.duration_s  # the tail runs in full
    closed_form = (LTE.promotion_s * LTE.promotion_w + up_j + down_j + (between + LTE.tail_s) * LTE.tail_w)
    assert t["energy_radio_j"][0] == pytest.approx(closed_form, rel=1e-5)
    assert 12.5 < closed_form < 12.8  # 97% of it tail: the transfer alone is about 0.3 J
    spent = world.energy.spent
    assert t["energy_radio_j"][0] == pytest.approx(spent["radio_tx"][0] + spent["radio_rx"][0]
                                                   + spent["radio_tail"][0], rel=1e-6)


def test_overlapping_tails_go_to_the_request_that_left_the_radio_idle():
    world = _one_phone("edge", "10/min", "1min")  # a request every 6 s, inside the previous one's 11.6 s tail
    t = world.table()
    arrival, latency = t["arrival_s"], t["latency_s"].astype(np.float64)
    assert len(arrival) >= 9 and (t["dropped"] == SERVED).all()
    up_j, down_j, access_s = _transfer_j(world)
    promoted = np.zeros(len(arrival))
    promoted[0] = LTE.promotion_s  # only the first finds the radio idle
    own_tail_s = latency - promoted - access_s  # upload end to reply start: edge compute and RTT
    replied = arrival + latency
    # each tail is cut by the next request's upload; the last by the end of the run
    cut_at = np.append(arrival[1:], world.duration_s)
    next_tail_s = np.minimum(cut_at - replied, LTE.tail_s)
    expected = promoted * LTE.promotion_w + up_j + down_j + (own_tail_s + next_tail_s) * LTE.tail_w
    np.testing.assert_allclose(t["energy_radio_j"], expected, rtol=1e-5)
    assert (next_tail_s[:-1] < LTE.tail_s).all()


def _mixed_world(seed: int, policy: str = "random") -> World:
    bursty = {"kind": "bursty", "burst_ratio": 8, "mean_burst": "2min", "mean_calm": "10min"}
    params = {"p_local": 0.4, "p_edge": 0.3, "p_cloud": 0.3} if policy == "random" else {}
    world = World(scenarios.parse({
        "name": "attribution-mixed", "seed": seed, "duration": "2h", "policy": {"name": policy, "params": params},
        "fleet": [
            {"profile": "smartphone", "count": 4, "link": "lte", "battery": "300J", "harvest": {"peak": "2W"},
             "workload": {**bursty, "rate": "2/min", "deadline": "300ms"}},
            {"profile": "iot-gateway", "count": 2, "link": "5g",
             "workload": {**bursty, "rate": "6/min", "deadline": "100ms"}},
            {"profile": "raspberry-pi-4", "count": 2, "link": "wifi",
             "workload": {**bursty, "rate": "12/min", "deadline": "100ms"}},
            # replies take seconds: some are still on the way when the run ends
            {"profile": "mcu-cortex-m4", "count": 6, "link": "nb-iot",
             "workload": {**bursty, "rate": "4/min", "deadline": "10s"}},
            {"profile": "mcu-cortex-m4", "count": 2, "link": "lora",
             "workload": {**bursty, "rate": "2/min", "deadline": "10s"}},
        ],
        "models": {"edge": {"hidden": 64, "layers": 2}},
        "federation": NO_FEDERATION,
    }, "attribution-mixed"))
    world.run()
    return world


@pytest.mark.parametrize("seed", [8, 11])
def test_without_federation_the_requests_columns_sum_to_the_ledgers_active_energy(seed):
    world = _mixed_world(seed)
    t = world.table()
    billed = float(np.sum(t["energy_compute_j"], dtype=np.float64) + np.sum(t["energy_radio_j"], dtype=np.float64))
    ledgers = sum(sum(world.energy.spent[c]) for c in ACTIVE_COMPONENTS)
    assert billed == pytest.approx(ledgers, rel=1e-5)
    # the run exercises what could leak: every target, empty batteries, replies still on the way at the end
    assert set(np.unique(t["target"])) >= {0, 1, 2}
    assert (t["dropped"] == BATTERY_EMPTY).any() and (t["dropped"] == UNFINISHED).any()
    assert sum(world.energy.spent["radio_tail"]) > sum(world.energy.spent["radio_tx"])


def test_summary_energy_per_request_is_the_mean_of_the_served_rows_and_the_device_figure_adds_the_rest():
    world = _mixed_world(5)
    t = world.table()
    summary = summarize(t, world.energy.spent, [], "random", 5, world.duration_s)
    served = t["dropped"] == SERVED
    own = t["energy_compute_j"][served].astype(np.float64) + t["energy_radio_j"][served]
    assert summary["energy_per_request_j"] == pytest.approx(float(own.mean()), rel=1e-9)
    active = sum(sum(world.energy.spent[c]) for c in ACTIVE_COMPONENTS)
    assert summary["device_energy_per_request_j"] == pytest.approx(active / served.sum(), rel=1e-12)
    # without federation the devices spend above idle only what the requests spent, served or still on the way
    unserved = t["energy_compute_j"][~served].sum(dtype=np.float64) + t["energy_radio_j"][~served].sum(dtype=np.float64)
    assert summary["energy_per_request_j"] * served.sum() + unserved == pytest.approx(active, rel=1e-5)
