"""Energy conservation: for every device, components == battery drain + harvest, to 1e-9 relative; without
federation, the requests' energy columns sum to the ledgers' energy above idle (float32 columns: 1e-5)."""
from __future__ import annotations

import numpy as np
import pytest

from sim import scenario as scenarios
from sim.energy import ACTIVE_COMPONENTS, COMPONENTS
from sim.world import World


def _world(policy: str) -> World:
    return World(scenarios.parse({
        "name": "conservation", "seed": 4, "duration": "30h",
        "policy": {"name": policy, "params": {"p_local": 0.4, "p_edge": 0.3, "p_cloud": 0.3} if policy == "random" else {}},
        "fleet": [
            # small batteries that empty at night and recharge by day
            {"profile": "smartphone", "count": 4, "link": "lte", "battery": "150J", "battery_revive": 0.3,
             "harvest": {"peak": "4W"}, "workload": {"kind": "bursty", "rate": "2/min", "deadline": "300ms"}},
            {"profile": "mcu-cortex-m4", "count": 3, "link": "nb-iot", "battery": "40J",
             "harvest": {"peak": "20mW"}, "workload": {"kind": "periodic", "rate": "1/min", "deadline": "2s"}},
            {"profile": "raspberry-pi-4", "count": 2, "link": "wifi",
             "workload": {"kind": "poisson", "rate": "1/min", "deadline": "100ms"}},
        ],
        "models": {"edge": {"hidden": 64, "layers": 2}},
        "federation": {"enabled": False},
    }, "conservation"))


@pytest.mark.parametrize("policy", ["random", "local"])
def test_components_equal_drain_plus_harvest(policy):
    world = _world(policy)
    world.run()
    energy = world.energy
    checked = 0
    for dev in range(world.n_devices):
        components = sum(energy.spent[c][dev] for c in COMPONENTS)
        capacity = energy.capacity_j[dev]
        if capacity is None:  # mains: idle over the whole run plus what was spent
            assert energy.spent["idle"][dev] == pytest.approx(world.devices[dev].profile.idle_w * world.duration_s,
                                                              rel=1e-12)
            continue
        drain = capacity - energy.level_j[dev]
        stored = energy.harvested_j[dev] - energy.wasted_j[dev]
        assert components == pytest.approx(drain + stored, rel=1e-9, abs=1e-9), dev
        checked += 1
    assert checked == 7
    # the scenario really exercises deaths, revivals and harvesting
    assert sum(energy.deaths) >= 3 and sum(energy.harvested_j) > 0
    table = world.recorder.table()
    dropped = table["dropped"]
    assert 0 < int((dropped == 1).sum()) < len(dropped)
    # every joule above idle was some request's, radio tails included (through deaths and revivals too)
    billed = np.sum(table["energy_compute_j"], dtype=np.float64) + np.sum(table["energy_radio_j"], dtype=np.float64)
    assert billed == pytest.approx(sum(sum(energy.spent[c]) for c in ACTIVE_COMPONENTS), rel=1e-5)
