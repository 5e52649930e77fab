"""sim.envs.selection: edgefed/Selection-v0 passes gymnasium's checker, reproduces episodes, earns the documented reward.

Every test here trains LSTMs through the devices' Flower ClientApps (in-process): slow."""
from __future__ import annotations

import numpy as np
import pytest

gymnasium = pytest.importorskip("gymnasium")

import sim.envs  # noqa: E402,F401  registers the envs
from gymnasium.utils.env_checker import check_env  # noqa: E402
from sim import scenario as scenarios  # noqa: E402
from sim.app.selection_env import make_selection_env  # noqa: E402
from sim.envs.selection import FEATURES_PER_DEVICE, SelectionEnv  # noqa: E402

pytestmark = pytest.mark.slow


def fl(rounds: int = 3, **federation) -> scenarios.Scenario:
    """Three Pis on WiFi and two phones on LTE, a tiny LSTM, a round every 10 minutes."""
    fed = {"rounds": rounds, "first_round_at": "1min", "every": "10min", "clients_per_round": 3,
           "pretrain": {"rounds": 0}, "round_deadline": "5min", "train_span": "3d", "local_epochs": 1}
    fed.update(federation)
    return scenarios.parse({
        "name": "gym-selection", "seed": 3, "duration": f"{10 * rounds + 2}min", "policy": {"name": "local"},
        "fleet": [{"profile": "raspberry-pi-4", "count": 3, "link": "wifi",
                   "workload": {"kind": "poisson", "rate": "1/min", "deadline": "1s"}},
                  {"profile": "smartphone", "count": 2, "link": "lte",
                   "workload": {"kind": "poisson", "rate": "1/min", "deadline": "1s"}}],
        "models": {"edge": {"hidden": 8}},
        "federation": fed}, "test")


def episode(env, seed: int, actions):
    obs, info = env.reset(seed=seed)
    observations, rewards, infos, done, i = [obs], [], [info], False, 0
    while not done:
        obs, reward, done, truncated, info = env.step(actions[i % len(actions)])
        assert not truncated
        observations.append(obs)
        rewards.append(reward)
        infos.append(info)
        i += 1
    return np.array(observations), np.array(rewards), infos


def test_passes_gymnasiums_env_checker():
    env = make_selection_env(fl(rounds=2))
    check_env(env, skip_render_check=True)
    assert env.observation_space.shape == (5, FEATURES_PER_DEVICE) and env.action_space.n == 5


def test_gymnasium_make_builds_it_by_id_and_one_step_is_one_round():
    env = gymnasium.make("edgefed/Selection-v0", scenario=fl(), seed=3)
    obs, info = env.reset()
    assert env.observation_space.contains(obs) and info["round"] == 1
    assert obs[:, 0].tolist() == [1.0] * 5 and obs[:, 6].tolist() == [10.0] * 5  # all may train; none chosen yet
    _, _, done, _, info = env.step(np.array([1, 0, 1, 0, 1], np.int8))
    assert not done and info["round"] == 1 and info["selected"] == info["trained"] == [0, 2, 4]
    assert info["aggregated"] == 3 and info["model_version"] == 1
    assert info["now_s"] == 660.0  # the second round's selection: 1 min + 10 min
    obs, _, _, _, _ = env.step(np.zeros(5, np.int8))
    assert obs[:, 6].tolist() == [2.0, 10.0, 2.0, 10.0, 2.0]  # rounds since selected (never: the clip, 10)


def test_a_seeded_episode_is_reproduced_bit_for_bit():
    env = make_selection_env(fl())
    actions = [np.array([1, 1, 0, 1, 0]), np.array([0, 1, 1, 1, 1]), np.array([1, 0, 0, 0, 1])]
    first, again = episode(env, 9, actions), episode(env, 9, actions)
    assert len(first[1]) == 3
    assert first[0].tobytes() == again[0].tobytes() and first[1].tobytes() == again[1].tobytes()
    assert [i["held_out_mse"] for i in first[2]] == [i["held_out_mse"] for i in again[2]]
    other = episode(env, 10, actions)
    assert other[1].tobytes() != first[1].tobytes()


def test_the_reward_is_the_held_out_gain_minus_the_training_energy():
    env = make_selection_env(fl(rounds=2), lambda_energy=0.5)
    _, rewards, infos = episode(env, 3, [np.array([1, 1, 1, 0, 0]), np.zeros(5, np.int8)])
    first, second = infos[1], infos[2]
    assert first["gain"] == pytest.approx(infos[0]["held_out_mse"] - first["held_out_mse"], rel=1e-12)
    assert first["gain"] > 0.0  # FedAvg of three Pis' updates beats the untrained model on held-out hours
    # by hand: a Pi 4's training is FLOPs/sample x 72 windows (3 days) x 1 epoch at its FLOP/s, at 3.7 W above idle
    world = env.world
    seconds = world.flops_per_train_sample * 72 * 1 / world.fleet.flops_per_s[0]
    assert first["energy_j"] == pytest.approx(3 * 3.7 * seconds, rel=1e-9)
    assert rewards[0] == pytest.approx(first["gain"] - 0.5 * first["energy_j"], rel=1e-12)
    # nobody selected: no training, no new model, no reward
    assert second["trained"] == [] and second["aggregated"] == 0 and second["model_version"] == 1
    assert rewards[1] == 0.0 and second["energy_j"] == 0.0


def test_devices_that_may_not_train_are_shown_so_and_ignored():
    # a diurnal window with +-1 h jitter around 0:30-1:00: at the first round (0:01) some devices are in it
    env = make_selection_env(fl(rounds=1, availability={"kind": "diurnal", "from_hour": 0.5, "to_hour": 1,
                                                        "jitter": "1h"}))
    obs, _ = env.reset(seed=4)
    available = [d for d in range(5) if obs[d, 0] == 1.0]
    assert 0 < len(available) < 5
    _, _, _, _, info = env.step(np.ones(5, np.int8))
    assert info["selected"] == [0, 1, 2, 3, 4] and info["trained"] == available


def test_a_scenario_without_federation_is_refused_with_its_name():
    with pytest.raises(ValueError, match="gym-selection: federation: Selection-v0 needs enabled: true"):
        SelectionEnv(fl().model_copy(update={"federation": fl().federation.model_copy(update={"enabled": False})}),
                     federation=None, evaluate=None)
