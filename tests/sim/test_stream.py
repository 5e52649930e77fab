"""Streaming the request table as a run goes: the streamed rows equal the in-memory table bit for bit."""
from __future__ import annotations

import numpy as np
import pytest

from sim import scenario as scenarios
from sim.spill import RequestSpill, row_groups
from sim.recorder import BATTERY_EMPTY, COLUMNS
from sim.world import World


def _scenario(seed: int) -> scenarios.Scenario:
    # LTE tails (11.6 s) and 5G outlive many requests; phones on small batteries die and drop requests
    workload = {"kind": "poisson", "rate": "2/s", "deadline": "200ms"}
    return scenarios.parse({
        "name": "stream", "seed": seed, "duration": "20min", "policy": {"name": "random"},
        "fleet": [{"profile": "smartphone", "count": 6, "link": "lte", "workload": workload, "battery": "40J"},
                  {"profile": "raspberry-pi-4", "count": 6, "link": "5g", "workload": workload},
                  {"profile": "raspberry-pi-4", "count": 4, "link": "wifi", "workload": workload}],
        "federation": {"enabled": False, "pretrain": {"rounds": 0}}}, "stream")


@pytest.mark.parametrize("seed", [0, 1])
def test_streamed_rows_equal_the_in_memory_table(tmp_path, seed):
    held = World(_scenario(seed))
    held.run()
    whole = held.recorder.table()

    world = World(_scenario(seed), recorder_capacity=1024)  # small: the columns grow while rows stream out
    spill = RequestSpill(world, tmp_path / "rows.parquet", min_rows=200)
    world.run(progress=spill.flush, steps=100)
    spill.close()
    streamed = list(row_groups(tmp_path / "rows.parquet"))
    assert spill.groups == len(streamed) > 20  # streamed as the run went, not once at the end
    assert world.recorder.released > 0.9 * world.recorder.size
    assert len(whole["device"]) > 30_000 and (whole["dropped"] == BATTERY_EMPTY).any()
    assert np.count_nonzero(whole["energy_radio_j"] > 0.2) > 1000  # LTE tails were billed to rows
    for name in COLUMNS:
        np.testing.assert_array_equal(np.concatenate([g[name] for g in streamed]), whole[name], err_msg=name)


def test_a_row_waits_while_its_radio_tail_is_still_running(tmp_path):
    world = World(_scenario(0))
    spill = RequestSpill(world, tmp_path / "rows.parquet", min_rows=1)
    world.env.run(until=300.0)
    end = spill.final_rows(world.env.now)
    rows, _, ran_in_full = world.energy.open_tails(world.env.now)
    assert (~ran_in_full).any()  # some LTE tail is still running at 300 s
    assert end == min(rows[~ran_in_full].min(), end) and end < world.recorder.size
