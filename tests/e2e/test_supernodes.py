"""A pool of Flower supernodes hosting many devices gives exactly the run of one supernode per device."""
from __future__ import annotations

import numpy as np
import pytest

from sim import scenario as scenarios
from sim.app.runner import run_federated

from test_run import TINY


def _scenario(supernodes: int | None) -> scenarios.Scenario:
    data = {**TINY, "duration": "2h",
            "fleet": [{**g, "count": 3} for g in TINY["fleet"]],
            "federation": {**TINY["federation"], "rounds": 2, "every": "40min", "first_round_at": "10min",
                           "clients_per_round": 5, "compression": "top-k", "personalise": True,
                           "pretrain": {"rounds": 1, "clients_per_round": 3}, "supernodes": supernodes}}
    return scenarios.parse(data, "supernodes")


@pytest.mark.slow
def test_two_supernodes_hosting_six_devices_reproduce_one_supernode_per_device():
    pooled, own = run_federated(_scenario(2)), run_federated(_scenario(None))
    assert pooled["world"].scenario.flower_supernodes == 2 and own["world"].scenario.flower_supernodes == 6
    # at least one round sent two devices to the same supernode
    trains = [m for m in pooled["exchanged"] if m.metadata.message_type == "train" and not m.metadata.reply_to_message_id]
    assert len({m.metadata.dst_node_id for m in trains}) == 2 and len(trains) >= 8
    assert pooled["world"].versions.keys() == own["world"].versions.keys() == {0, 1, 2}
    for version in own["world"].versions:
        for a, b in zip(pooled["world"].versions[version], own["world"].versions[version]):
            np.testing.assert_array_equal(a, b)  # per-device state (top-k residuals) kept apart on a shared node
    a, b = pooled["world"].table(), own["world"].table()
    np.testing.assert_array_equal(a["forecast_error"], b["forecast_error"])  # personal copies scored per device
    assert np.isfinite(a["forecast_error"]).mean() > 0.99
    assert pooled["versions"] == own["versions"]
