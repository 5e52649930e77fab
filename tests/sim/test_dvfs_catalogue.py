"""P-state tables and accelerators in the catalogue: validated sections, used by local inference as declared."""
from __future__ import annotations

import numpy as np
import pytest
import yaml

from clients import onnx_export
from clients.spec import ModelSpec, model_cost
from sim import scenario as scenarios
from sim.catalogue import DEVICES, CatalogueError, DeviceProfile, build
from sim.policies import LOCAL
from sim.world import World

PI_ENTRY = {"lstm_flops_per_s": 1e9, "cores": 4, "idle_w": 2.7, "active_w": 6.4, "ram_bytes": 4e9, "battery_j": None,
            "source": "s", "pstates": {"frequency_hz": [6e8, 1.5e9], "active_w": [3.0, 6.4], "transition_s": 1e-4,
                                       "source": "s"}}


def test_a_pstates_section_is_read_into_its_table():
    pi = build(DeviceProfile, "pi", PI_ENTRY, "f.yaml")
    assert pi.pstates.frequency_hz == (6e8, 1.5e9) and pi.pstates.active_w == (3.0, 6.4) and pi.accelerator is None
    assert DEVICES["raspberry-pi-4"].pstates.frequency_hz == (6e8, 7.5e8, 1e9, 1.5e9)
    assert DEVICES["raspberry-pi-4"].pstates.active_w[-1] == DEVICES["raspberry-pi-4"].active_w


@pytest.mark.parametrize("pstates, message", [
    ({"frequency_hz": [1.5e9, 6e8]}, "f.yaml: pi: pstates.frequency_hz: must be strictly ascending"),
    ({"active_w": [3.0]}, "f.yaml: pi: pstates.active_w: needs one power per frequency step (2), got 1"),
    ({"active_w": [6.4, 3.0]}, "f.yaml: pi: pstates.active_w: must not fall as the frequency rises"),
    ({"frequency_hz": []}, "f.yaml: pi: pstates.frequency_hz: must be a non-empty list of numbers"),
    ({"frequency_hz": [0, 1e9]}, "f.yaml: pi: pstates.frequency_hz[0]: must be > 0"),
    ({"volts": [1.0]}, "f.yaml: pi: pstates: unknown field 'volts'"),
])
def test_a_bad_pstates_section_names_the_field(pstates, message):
    entry = {**PI_ENTRY, "pstates": {**PI_ENTRY["pstates"], **pstates}}
    with pytest.raises(CatalogueError) as caught:
        build(DeviceProfile, "pi", entry, "f.yaml")
    assert str(caught.value).startswith(message)


def _world(profile: str, **extra) -> World:
    world = World(scenarios.parse({
        "name": "a", "seed": 3, "duration": "10min", "policy": {"name": "local"}, **extra,
        "fleet": [{"profile": profile, "count": 2, "link": "wifi",
                   "workload": {"kind": "poisson", "rate": "2/s", "deadline": "100ms"}}],
        "federation": {"enabled": False}}, "a.yaml"))
    world.run()
    return world


@pytest.mark.parametrize("profile", ["jetson-nano-gpu", "smartphone-npu"])
def test_local_inference_runs_on_the_accelerator_at_its_rate_power_and_call_cost(profile):
    world = _world(profile)
    accelerator, idle = DEVICES[profile].accelerator, DEVICES[profile].idle_w
    flops = world.fleet.flops_per_inference
    seconds = accelerator.call_overhead_s + flops / accelerator.lstm_flops_per_s
    t = world.table()
    assert (t["target"] == LOCAL).all()
    np.testing.assert_array_equal(t["compute_s"], np.float32(seconds))
    np.testing.assert_allclose(t["energy_compute_j"], (accelerator.active_w - idle) * seconds, rtol=1e-6)
    # the same device class without its accelerator: the CPU's rate and power
    cpu = _world({"jetson-nano-gpu": "jetson-nano", "smartphone-npu": "smartphone"}[profile])
    assert cpu.table()["compute_s"][0] == np.float32(flops / DEVICES[profile].lstm_flops_per_s)


def test_a_calibrated_entry_on_an_accelerator_base_pastes_into_a_scenario_and_keeps_the_accelerator():
    # a made-up measurement (the format, not ONNX Runtime, is under test): 0.25 ms a forecast on this CPU
    measured = onnx_export.Calibration(ModelSpec(hidden=64, layers=2), 2.5e-4, 2000, "onnxruntime 0.0", "x/8 cpus",
                                       "2025-01-01")
    text = onnx_export.profile_yaml(onnx_export.profile_override(measured, "lab-nano", "jetson-nano-gpu"))
    world = _world("lab-nano", **yaml.safe_load(text))
    profile = world.devices[0].profile
    assert profile.lstm_flops_per_s == pytest.approx(model_cost(measured.spec).flops_per_inference / 2.5e-4)
    assert profile.accelerator == DEVICES["jetson-nano-gpu"].accelerator  # inference stays on the GPU
    assert world.fleet.local_compute_s[0] == profile.accelerator.call_overhead_s + \
        world.fleet.flops_per_inference / profile.accelerator.lstm_flops_per_s
