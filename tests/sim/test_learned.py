"""sim.policies.learned: an exported MLP loads, decides on the shared features, and runs in a scenario."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim import scenario as scenarios
from sim.policies import make_policy
from sim.policies.features import CLIP, DIM, FEATURES, features
from sim.policies.learned import load_mlp
from sim.world import World


def write_mlp(path: Path, layers: list[tuple[np.ndarray, np.ndarray]], names=None) -> Path:
    arrays = {f"{kind}{k}": a for k, layer in enumerate(layers) for kind, a in zip("wb", layer)}
    np.savez(path, features=np.array(names or [n for n, _ in FEATURES]), **arrays)
    return path


def fastest_estimate(path: Path) -> Path:
    """A hand-built MLP that scores each target by minus its estimated latency (features 0-2): greedy's rule."""
    pick = np.zeros((3, DIM))
    pick[[0, 1, 2], [0, 1, 2]] = 0.05  # tanh stays strictly increasing on [0, 0.5]
    return write_mlp(path, [(pick, np.zeros(3)), (-np.eye(3), np.zeros(3))])


def scenario(policy: dict, seed: int = 2) -> scenarios.Scenario:
    return scenarios.parse({
        "name": "learned", "seed": seed, "duration": "60s", "policy": policy,
        "fleet": [{"profile": "iot-gateway", "count": 6, "link": "wifi",
                   "workload": {"kind": "poisson", "rate": "6/s", "deadline": "25ms"}},
                  {"profile": "smartphone", "count": 3, "link": "lte",
                   "workload": {"kind": "poisson", "rate": "2/s", "deadline": "50ms"}}],
        # congested.yaml's model and edge: slow gateways (19 ms locally), so greedy's choice varies
        "models": {"edge": {"cell": "lstm", "hidden": 128, "layers": 2, "window": 24}},
        "edge": {"cores": 1, "speed": 1.0e9}, "federation": {"enabled": False}}, "test")


def test_a_scenario_names_the_model_by_path_and_it_decides_as_its_weights_say(tmp_path):
    path = fastest_estimate(tmp_path / "greedy.npz")
    learned = World(scenario({"name": "learned", "params": {"path": str(path)}}))
    greedy = World(scenario({"name": "greedy"}))
    assert learned.policy.path == str(path) and len(learned.policy.layers) == 2
    learned.run()
    greedy.run()
    targets = learned.recorder.table()["target"]
    assert len(targets) > 1000 and len(set(targets.tolist())) >= 2  # it does choose, and not one target always
    assert targets.tobytes() == greedy.recorder.table()["target"].tobytes()


def test_the_bundled_model_loads_and_decides_every_request():
    world = World(scenario({"name": "learned"}))
    assert world.policy.path == "" and world.policy.layers[0][0].shape[1] == DIM
    world.run()
    targets = world.recorder.table()["target"]
    assert len(targets) > 1000 and set(targets.tolist()) <= {0, 1, 2}


def test_a_missing_file_is_a_scenario_error_naming_it(tmp_path):
    with pytest.raises(Exception, match="nope.npz"):
        scenario({"name": "learned", "params": {"path": str(tmp_path / "nope.npz")}})


def test_a_model_trained_on_other_features_is_refused(tmp_path):
    path = write_mlp(tmp_path / "old.npz", [(np.zeros((3, 2)), np.zeros(3))], names=["a", "b"])
    with pytest.raises(ValueError, match="trained on features a, b"):
        load_mlp(path)
    with pytest.raises(ValueError, match="trained on features"):
        make_policy("learned", {"path": str(path)}, np.random.default_rng(0))


def test_features_are_clipped_to_the_box_the_env_declares():
    world = World(scenario({"name": "greedy"}))
    obs = world.serving._static_observation(0)
    obs.cpu_wait_s, obs.up_bps, obs.battery_soc = 1e6, obs.radio.up_bps / 2, 0.25
    vector = features(obs)
    assert vector.dtype == np.float32 and vector.shape == (DIM,)
    names = [n for n, _ in FEATURES]
    assert vector[names.index("cpu_wait")] == CLIP and vector[names.index("latency_local")] == CLIP
    assert vector[names.index("up_share")] == 0.5 and vector[names.index("battery_soc")] == 0.25
