"""Synchronous rounds see only available devices; one that leaves mid-round drops out with reason unavailable."""
from __future__ import annotations

import numpy as np
import pytest

from server.coordinator import Coordinator
from tests.server.test_coordinator import StandInFleet, _initial, _world, flower_task_identity  # noqa: F401


@pytest.fixture
def trace(tmp_path):
    # 0-2 always; 3 leaves 1 ms after the first round starts at 60 s (its training takes ~50 ms); 4, 5 never
    path = tmp_path / "availability.csv"
    path.write_text("device,start_s,end_s\n0,0,1e6\n1,0,1e6\n2,0,1e6\n3,0,60.001\n")
    return str(path)


def test_only_available_devices_are_selected_and_a_leaver_drops_out(trace):
    world = _world(clients_per_round=6, availability={"kind": "trace", "file": trace})
    fleet = StandInFleet()
    coordinator = Coordinator(world, fleet, _initial())
    world.run()
    assert [devices for _, devices in fleet.calls] == [[0, 1, 2, 3], [0, 1, 2]]
    assert [(r["selected"], r["aggregated"], r["failed"]) for r in coordinator.rounds] == [(4, 3, 1), (3, 3, 0)]
    leaver = next(r for r in coordinator.round_clients if r["device"] == 3)
    assert (leaver["status"], leaver["reason"]) == ("dropout", "unavailable")
    assert np.isnan(leaver["upload_end_s"])  # it stopped: no upload crossed the link after it left
    np.testing.assert_allclose(world.versions[1][0], 0.1 * np.mean([1, 2, 3]), rtol=1e-6)


def test_a_night_window_leaves_a_daytime_round_empty():
    world = _world(clients_per_round=6, availability={"kind": "diurnal", "from_hour": 0.5, "to_hour": 6,
                                                      "jitter": "0s"})
    fleet = StandInFleet()
    coordinator = Coordinator(world, fleet, _initial())
    world.run()
    assert fleet.calls == []  # rounds at 1 min and 11 min: before the 00:30 window opens
    assert [r["selected"] for r in coordinator.rounds] == [0, 0] and world.global_version == 0
