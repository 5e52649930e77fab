"""The request table grows geometrically without losing a row, whatever its starting capacity."""
from __future__ import annotations

import numpy as np
import pytest

from sim import scenario as scenarios
from sim.recorder import Recorder
from sim.world import REQUEST_COLUMNS, World


def _bursty_scenario(seed: int) -> scenarios.Scenario:
    # 600 requests/s in all: arrival chunks of ~109 s, so a 10-minute run is fed in six chunks
    return scenarios.parse({
        "name": "grow", "seed": seed, "duration": "10min", "policy": {"name": "random"},
        "fleet": [{"profile": "raspberry-pi-4", "count": 2, "link": "wifi",
                   "workload": {"kind": "bursty", "rate": "300/s", "deadline": "100ms", "burst_ratio": 8,
                                "mean_burst": "20s", "mean_calm": "60s"}}],
        "federation": {"enabled": False, "pretrain": {"rounds": 0}}}, "grow")


def _run(scenario: scenarios.Scenario, capacity: int) -> dict[str, np.ndarray]:
    world = World(scenario, recorder_capacity=capacity)
    world.run()
    return world.table()


@pytest.mark.slow  # 7 s
@pytest.mark.parametrize("seed", [1])
def test_growing_from_a_tiny_capacity_over_many_chunks_loses_no_row(seed):
    scenario = _bursty_scenario(seed)
    grown, roomy = _run(scenario, 16), _run(scenario, 2_000_000)
    assert len(roomy["device"]) > 300_000
    for name in REQUEST_COLUMNS:
        np.testing.assert_array_equal(grown[name], roomy[name], err_msg=name)
    # each device's requests are counted for that device: no row falls back to arrival 0, device 0
    assert np.all(np.diff(grown["arrival_s"]) >= 0)
    assert np.count_nonzero(grown["arrival_s"] == 0.0) == 0


def test_reserve_keeps_rows_written_ahead_of_the_count():
    rec = Recorder(16)
    rec.arrival_s[:16] = np.arange(16.0)
    rec.device[:16] = np.arange(16)
    rec.size = 10  # rows 10..15 are written ahead of the clock, not counted yet
    rec.reserve(40)
    assert rec.capacity == 64
    np.testing.assert_array_equal(rec.arrival_s[:16], np.arange(16.0))
    np.testing.assert_array_equal(rec.device[:16], np.arange(16))
    # rows are NaN-filled as far as they are reserved (not the whole capacity at once: that would be resident)
    assert np.isnan(rec.latency_s[:40]).all() and not rec.device[16:].any()


def test_released_rows_give_their_pages_back_and_later_rows_survive_growth():
    rec = Recorder(1 << 16)
    rec.reserve(1 << 16)
    rec.arrival_s[:] = np.arange(1 << 16)
    rec.size = 1 << 16
    rec.release(40_000)
    assert rec.arrival_s[0] == 0.0 and rec.arrival_s[1] == 0.0  # page given back: reads as zeros
    rec.reserve(1 << 17)  # growth copies only the rows still held
    np.testing.assert_array_equal(rec.arrival_s[40_000:1 << 16], np.arange(40_000, 1 << 16))
    assert np.isnan(rec.latency_s[1 << 16:]).all()
    with pytest.raises(RuntimeError, match="streamed out"):
        rec.table()
