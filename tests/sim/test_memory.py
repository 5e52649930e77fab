"""sim/memory.py: a model a device cannot hold is a scenario error; one it cannot train keeps it out of training."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from clients.spec import ModelSpec, model_cost
from sim import memory
from clients.spec import memory_bytes
from sim import scenario as scenarios
from sim.catalogue import DEVICES

ROOT = Path(__file__).resolve().parents[2]
MCU_RAM = 655360.0  # 640 KiB (devices.yaml)


def _scenario(edge: dict, int8: bool = True, mcu: int = 4, pi: int = 4) -> dict:
    load = {"rate": "0.01/s", "deadline": "1s"}
    return {"name": "mem", "duration": "1h", "models": {"edge": edge, "int8_on_device": int8},
            "federation": {"enabled": True, "rounds": 1, "clients_per_round": 8, "pretrain": {"rounds": 0}},
            "fleet": [{"profile": "raspberry-pi-4", "count": pi, "workload": load},
                      {"profile": "mcu-cortex-m4", "count": mcu, "workload": load}]}


def test_the_mcu_cannot_infer_an_fp32_lstm_of_hidden_128_x2_but_can_in_int8():
    assert DEVICES["mcu-cortex-m4"].ram_bytes == MCU_RAM
    spec = ModelSpec(hidden=128, layers=2)
    cost = model_cost(spec)
    # fp32: 4 x 199,297 parameters + 4 x (24 x 256 + 512 + 256) activations = 824,836 B > 655,360 B
    assert cost.bytes_fp32 + cost.peak_activation_bytes == 824_836
    assert memory.inference_problem(DEVICES["mcu-cortex-m4"], spec, int8=False) == (
        "mcu-cortex-m4 has 655 kB of RAM; the edge model (lstm h=128 x2) needs 825 kB to infer "
        "(fp32 weights 797 kB + activations 27.6 kB)")
    # int8: 201,368 + 27,648 B fits
    assert memory.inference_problem(DEVICES["mcu-cortex-m4"], spec, int8=True) is None
    assert memory.inference_problem(DEVICES["raspberry-pi-4"], spec, int8=False) is None


@pytest.mark.parametrize("command", ["validate", "run"])
def test_validate_and_run_refuse_a_model_the_device_cannot_hold_in_one_line(tmp_path, command):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(_scenario({"hidden": 128, "layers": 2}, int8=False)))
    done = subprocess.run([sys.executable, "-m", "sim.app.cli", command, str(path)], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2
    assert done.stderr == (f"error: {path}: fleet[1].profile: mcu-cortex-m4 has 655 kB of RAM; the edge model "
                           "(lstm h=128 x2) needs 825 kB to infer (fp32 weights 797 kB + activations 27.6 kB)\n")


def test_training_memory_of_hidden_16_is_over_the_mcus_ram():
    # 16 x 1,233 parameters + 64 samples x 4 x (24 x (1 + 64 + 32 + 16) + 16) = 19,728 + 698,368 B
    need = memory_bytes(ModelSpec(hidden=16), train=True)
    assert (need.weights_bytes, need.activation_bytes) == (19_728, 698_368)
    assert need.total_bytes > MCU_RAM > memory_bytes(ModelSpec(hidden=16), int8=True).total_bytes


def test_a_device_that_can_infer_but_not_train_is_never_selected_and_the_reason_is_recorded():
    from server.selection import select
    from sim.world import World

    scenario = scenarios.parse(_scenario({"hidden": 16}))
    world = World(scenario)
    fed = scenario.federation
    for seed in range(20):  # 8 wanted of 8 devices: only the 4 Pis can train
        chosen, keep = select(world, fed, np.random.default_rng(seed))
        assert chosen == [0, 1, 2, 3] and keep == 8
    rows = memory.exclusions(scenario)
    assert rows == [{"group": 1, "profile": "mcu-cortex-m4", "devices": 4, "model": "edge",
                     "reason": "mcu-cortex-m4 has 655 kB of RAM; the edge model (lstm h=16) needs 718 kB to train "
                               "(weights, gradients and Adam state 19.7 kB + activations 698 kB)"}]
    assert set(memory.untrainable(scenario, scenario.models.edge.spec)) == {4, 5, 6, 7}


def test_pretraining_chooses_only_devices_that_can_train():
    from server.coordinator import pretrain

    class Recording:
        def __init__(self):
            self.chosen = []

        def train(self, strategy, server_round, devices, arrays, config):
            self.chosen.append(list(devices))
            return {}

    fleet = Recording()
    fed = scenarios.parse(_scenario({"hidden": 16})).federation.model_copy(
        update={"pretrain": scenarios.Pretrain(rounds=5, clients_per_round=3)})
    pretrain(fleet, 8, [np.zeros(2, np.float32)], fed, np.random.default_rng(0), excluded={4, 5, 6, 7})
    assert len(fleet.chosen) == 5 and all(len(c) == 3 and max(c) <= 3 for c in fleet.chosen)
    # nothing excluded: the same draws as before the memory check (rng.choice of range(n))
    fleet = Recording()
    pretrain(fleet, 8, [np.zeros(2, np.float32)], fed, np.random.default_rng(0))
    rng = np.random.default_rng(0)
    assert fleet.chosen == [sorted(int(d) for d in rng.choice(8, size=3, replace=False)) for _ in range(5)]


def test_a_run_that_trained_records_its_exclusions_in_summary_and_exclusions_csv(tmp_path):
    from clients.model import build_model, get_arrays
    from sim.app.runner import collect, write_run
    from sim.world import World

    data = _scenario({"hidden": 16})
    data["federation"]["enabled"] = False
    data["duration"] = "60s"
    scenario = scenarios.parse(data)
    world = World(scenario)
    world.publish(0, get_arrays(build_model(scenario.models.edge.spec, 0)))
    world.run()
    row = {"phase": "pretrain", "round": 1, "start_s": 0.0, "deadline_s": 0.0, "selected": 3, "aggregated": 3,
           "stragglers": 0, "failed": 0, "model_version": 0, "upload_bytes": 0.0, "train_loss": 1.0}
    trained = collect(world, [row], [], [])
    assert list(trained.summary["fl_excluded"]) == ["mcu-cortex-m4 (edge)"]
    out = write_run(trained, tmp_path / "run", plots=False)
    lines = (out / "exclusions.csv").read_text().splitlines()
    assert lines[0] == "group,profile,devices,model,reason" and lines[1].startswith("1,mcu-cortex-m4,4,edge,")
    untrained = collect(world, [], [], [])  # no device trained: nothing to exclude, no key
    assert "fl_excluded" not in untrained.summary and untrained.exclusions == []
