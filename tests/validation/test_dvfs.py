"""DVFS against the profile's P-state table: at a fixed utilisation, the energy per inference at each step is
P(f) t(f), the table's whole-device power at f times the compute time at f, within 1%.

Energy per inference is measured from the run: the device's ledgers above its idle floor over the run, per
inference, plus the idle power for the inference's own compute time (what the device draws while it computes).
The utilisation is held fixed (30% of the 4 cores) by choosing the Poisson rate for each step: lambda = rho c / t(f).
Run with the catalogue's table and with a table whose dynamic power is linear in f (constant voltage), so that a
model ignoring the table (today's cube law of cpu_scale) fails one of them. The ondemand governor under that load settles where its rule says (1 GHz), and its energy per inference is then
the table's at 1 GHz, within 1%.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sim import scenario as scenarios
from sim.catalogue import DEVICES
from sim.energy import COMPONENTS
from sim.policies import LOCAL
from sim.world import World

PI = DEVICES["raspberry-pi-4"]
TABLE = PI.pstates
RATE = 1e7  # FLOP/s at the top step: about 6 ms a forecast, so that a 30% load is a few hundred requests a second
RHO, DURATION_S = 0.3, 300.0


# constant voltage: dynamic power proportional to f (the catalogue's table is cube law)
LINEAR = dataclasses.replace(TABLE, active_w=tuple(PI.idle_w + (PI.active_w - PI.idle_w) * f / TABLE.frequency_hz[-1]
                                                   for f in TABLE.frequency_hz))


@pytest.fixture(params=["catalogue", "linear"])
def table(request, monkeypatch):
    if request.param == "linear":
        monkeypatch.setitem(DEVICES, "raspberry-pi-4", dataclasses.replace(PI, pstates=LINEAR))
    return TABLE if request.param == "catalogue" else LINEAR


def _world(governor: dict, rate_per_s: float) -> World:
    world = World(scenarios.parse({
        "name": "dvfs", "seed": 5, "duration": f"{DURATION_S}s", "policy": {"name": "local"},
        "profiles": {"raspberry-pi-4": {"lstm_flops_per_s": RATE}},
        "fleet": [{"profile": "raspberry-pi-4", "count": 1, "link": "wifi", "governor": governor,
                   "workload": {"kind": "poisson", "rate": f"{rate_per_s!r}/s", "deadline": "1s"}}],
        "federation": {"enabled": False}}, "dvfs.yaml"))
    world.run()
    return world


def _per_inference_j(world: World) -> tuple[float, float, float]:
    """(energy per inference J, mean compute s, utilisation) measured from the run's ledgers and table."""
    t, energy = world.table(), world.energy
    served = (t["target"] == LOCAL) & (t["dropped"] == 0)
    n = int(served.sum())
    compute_s = float(t["compute_s"][served].astype(np.float64).mean())
    total = sum(energy.spent[c][0] for c in COMPONENTS)
    above_idle = total - PI.idle_w * world.duration_s
    cpu = world.fleet.cpu[0]
    return above_idle / n + PI.idle_w * compute_s, compute_s, cpu.busy_s / (cpu.cores * world.duration_s)


def _t(step: int, flops: float) -> float:
    return flops / (RATE * TABLE.frequency_hz[step] / TABLE.frequency_hz[-1])


@pytest.mark.parametrize("step", range(len(TABLE.frequency_hz)))
def test_energy_per_inference_at_a_fixed_utilisation_is_the_tables_power_times_the_compute_time(step, table):
    probe = _world({"name": "performance"}, 1e-3)
    flops = probe.fleet.flops_per_inference
    t_f = _t(step, flops)
    world = _world({"name": "userspace", "frequency": f"{TABLE.frequency_hz[step]!r}Hz"}, RHO * PI.cores / t_f)
    joules, compute_s, utilisation = _per_inference_j(world)
    assert utilisation == pytest.approx(RHO, rel=0.03)  # the load is what it was set to
    assert compute_s == pytest.approx(t_f, rel=1e-6)
    assert joules == pytest.approx(table.active_w[step] * t_f, rel=0.01)


def test_the_table_makes_1ghz_the_cheapest_step_per_inference():
    # P(f) t(f) with idle counted while computing, per FLOP: 7.3, 6.3, 5.7, 6.4 nJ at 600, 750, 1000, 1500 MHz
    energy = [w / f for w, f in zip(TABLE.active_w, TABLE.frequency_hz)]
    assert int(np.argmin(energy)) == 2


def test_ondemand_settles_on_its_rules_step_and_costs_that_steps_energy_per_inference():
    probe = _world({"name": "performance"}, 1e-3)
    flops = probe.fleet.flops_per_inference
    rate = RHO * PI.cores / _t(3, flops)  # 30% of the cores at the top step
    world = _world({"name": "ondemand", "sampling": "1s"}, rate)
    # top: 30% -> 870 MHz -> 750; at 750 the load doubles: 60% -> 1140 MHz -> 1000; at 1000: 45% -> 1005 -> 1000
    residency = world.dvfs.residency_s[0]
    assert residency[2] >= DURATION_S - 3.0
    joules, _, _ = _per_inference_j(world)
    assert joules == pytest.approx(TABLE.active_w[2] * _t(2, flops), rel=0.01)
