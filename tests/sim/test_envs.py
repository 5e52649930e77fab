"""sim.envs: edgefed/Offload-v0 passes gymnasium's checker, vectorises, reproduces episodes, credits the run's cost."""
from __future__ import annotations

import numpy as np
import pytest

gymnasium = pytest.importorskip("gymnasium")

import sim.envs  # noqa: E402,F401  registers the env
from gymnasium.utils.env_checker import check_env  # noqa: E402
from sim import scenario as scenarios  # noqa: E402
from sim.envs.offload import OffloadEnv  # noqa: E402
from sim.policies import BasePolicy, CLOUD, EDGE, LOCAL  # noqa: E402
from sim.policies.features import DIM  # noqa: E402
from sim.world import World  # noqa: E402
from sim.app.summary import request_costs  # noqa: E402
from sim.recorder import SERVED  # noqa: E402


def small(seed: int = 4, duration: str = "30s") -> scenarios.Scenario:
    """Pis on WiFi and phones on LTE sharing a 1-core edge: offloads queue, so outcomes interleave."""
    return scenarios.parse({
        "name": "gym-small", "seed": seed, "duration": duration, "policy": {"name": "greedy"},
        "fleet": [
            {"profile": "raspberry-pi-4", "count": 4, "link": "wifi",
             "workload": {"kind": "poisson", "rate": "5/s", "deadline": "100ms"}},
            {"profile": "smartphone", "count": 3, "link": "lte",
             "workload": {"kind": "poisson", "rate": "2/s", "deadline": "250ms"}},
        ],
        "edge": {"cores": 1},
        "federation": {"enabled": False},
    }, "test")


def episode(env, seed: int, actions: np.random.Generator | None = None):
    """(observations, rewards, infos) of one whole episode; actions drawn from `actions` (default: cycling)."""
    obs, _ = env.reset(seed=seed)
    observations, rewards, infos, done, i = [obs], [], [], False, 0
    while not done:
        action = int(actions.integers(3)) if actions is not None else i % 3
        obs, reward, done, truncated, info = env.step(action)
        assert not truncated
        observations.append(obs)
        rewards.append(reward)
        infos.append(info)
        i += 1
    return np.array(observations), np.array(rewards), infos


def test_passes_gymnasiums_env_checker():
    env = OffloadEnv(small())
    check_env(env, skip_render_check=True)
    assert env.observation_space.shape == (DIM,) and env.action_space.n == 3


def test_gymnasium_make_builds_it_by_id():
    env = gymnasium.make("edgefed/Offload-v0", scenario=small(), seed=2)
    obs, info = env.reset()
    assert env.observation_space.contains(obs) and info["request"] == 0


def test_reset_with_a_seed_reproduces_the_episode_bit_for_bit():
    env = OffloadEnv(small())
    first = episode(env, 9, np.random.default_rng(1))
    again = episode(env, 9, np.random.default_rng(1))
    assert len(first[1]) > 500  # ~1,000 requests: a real episode
    assert first[0].tobytes() == again[0].tobytes() and first[1].tobytes() == again[1].tobytes()
    assert [i["latency_s"] for i in first[2]] == [i["latency_s"] for i in again[2]]
    other = episode(env, 10, np.random.default_rng(1))
    assert len(other[1]) != len(first[1]) or other[1].tobytes() != first[1].tobytes()


def test_an_episode_spans_the_scenarios_duration_and_credits_every_served_request():
    env = OffloadEnv(small())
    _, rewards, infos = episode(env, 3)
    rec = env.world.recorder
    credited = [r for info in infos for r in info["requests"]]
    finished = np.flatnonzero(~np.isnan(rec.latency_s[:rec.size]))
    assert sorted(credited) == finished.tolist() and len(credited) == len(set(credited))
    assert len(rewards) == rec.size  # one step per request (no battery empties here)
    assert env.world.env.now == 30.0


class Cycling(BasePolicy):
    """request k goes to target k mod 3."""

    name = ""

    def __init__(self):
        super().__init__(np.random.default_rng(0))

    def decide(self, obs):
        return obs.request % 3


def test_with_a_fixed_policy_the_env_runs_the_same_world_as_the_engine_and_its_return_is_minus_the_cost():
    world = World(small(seed=6), policy=Cycling())
    world.run()
    env = OffloadEnv(small(), lambda_energy=2.0, miss_penalty=5.0)
    _, rewards, infos = episode(env, 6)  # actions i mod 3: step i decides request i
    ours, theirs = env.world.recorder.table(), world.recorder.table()
    for column in ("target", "latency_s", "queue_s", "transfer_s", "energy_compute_j", "energy_radio_j", "dropped"):
        assert ours[column].tobytes() == theirs[column].tobytes(), column
    assert set(ours["target"].tolist()) == {LOCAL, EDGE, CLOUD}
    table = world.table()
    costs = request_costs(table, table["dropped"] == SERVED, 2.0, 5.0)
    # the same float64 terms, summed in another order (per step, tails credited apart): float rounding only
    assert rewards.sum() == pytest.approx(-costs.sum(), rel=1e-12)
    assert costs.sum() > 100.0
    tails = sum(j for info in infos for _, j in info["tail_j"])
    assert tails > 10.0  # LTE tails are most of the offloads' energy: credited, after their replies


def test_the_first_local_step_is_rewarded_by_the_documented_formula():
    env = OffloadEnv(small(), lambda_energy=2.0, miss_penalty=5.0)
    env.reset(seed=4)
    obs = env.decision
    compute_s, compute_w, deadline_s = obs.compute_s[LOCAL], obs.compute_w, obs.deadline_s
    _, reward, _, _, info = env.step(LOCAL)
    # nothing else was in flight: this request alone, on an idle CPU: latency is its compute time
    assert info["requests"] == [info["decided"]] == [0]
    assert info["latency_s"] == [pytest.approx(compute_s, rel=1e-6)]  # recorded in float32
    assert info["energy_j"] == [pytest.approx(compute_w * compute_s, rel=1e-6)]
    assert info["deadline_met"] == [True] and info["tail_j"] == []
    # by hand: a Pi 4 at 3.7 W above idle computes the request in 60.321 us, against a 100 ms deadline
    assert (compute_s, compute_w, deadline_s) == (6.0321e-05, 3.7, 0.1)
    assert reward == pytest.approx(-(6.0321e-05 / 0.1 + 2.0 * 3.7 * 6.0321e-05), rel=1e-6)  # -0.00104958540


def test_every_steps_reward_is_minus_the_cost_of_the_outcomes_and_tails_its_info_names():
    env = OffloadEnv(small(), lambda_energy=0.5, miss_penalty=5.0)
    _, rewards, infos = episode(env, 4, np.random.default_rng(0))
    device = env.world.recorder.device
    deadline = np.asarray(env.world.fleet.deadline_s, np.float32).tolist()  # as the table records it
    expected = [-sum(lat / deadline[device[r]] + 0.5 * e + (0.0 if met else 5.0)
                     for r, lat, e, met in zip(i["requests"], i["latency_s"], i["energy_j"], i["deadline_met"]))
                - 0.5 * sum(j for _, j in i["tail_j"]) for i in infos]
    assert rewards == pytest.approx(expected, rel=1e-12, abs=1e-15)
    misses = sum(not met for i in infos for met in i["deadline_met"])
    assert 0 < misses < len(rewards)  # random targets: the 1-core edge and LTE miss some, not all
    assert min(rewards) < -5.0
    # every tail credited belongs to a request credited in an earlier step (or the same one)
    seen: set[int] = set()
    for i in infos:
        seen.update(i["requests"])
        assert {r for r, _ in i["tail_j"]} <= seen


def _make(seed):
    return lambda: gymnasium.make("edgefed/Offload-v0", scenario=small(duration="5s"), seed=seed)


def _rollout(env, steps):
    obs, _ = env.reset(seed=[11, 12])
    rows, rng = [obs], np.random.default_rng(0)
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = env.step(rng.integers(3, size=2))
        rows.append(obs)
    return np.array(rows)


def test_runs_under_sync_vector_env_as_independent_seeded_copies():
    vec = gymnasium.vector.SyncVectorEnv([_make(0), _make(0)])
    rows = _rollout(vec, 40)
    assert rows.shape == (41, 2, DIM)
    assert not np.array_equal(rows[:, 0], rows[:, 1])  # seeds 11 and 12
    single = OffloadEnv(small(duration="5s"))
    assert np.array_equal(single.reset(seed=12)[0], rows[0, 1])
    vec.close()


def test_runs_under_async_vector_env_with_the_same_results_as_sync():
    sync = gymnasium.vector.SyncVectorEnv([_make(0), _make(0)])
    # spawned workers: forking a process that other tests left with threads (JAX, through the LiteRT converter)
    # can deadlock the child
    parallel = gymnasium.vector.AsyncVectorEnv([_make(0), _make(0)], context="spawn")
    try:
        assert _rollout(parallel, 40).tobytes() == _rollout(sync, 40).tobytes()
    finally:
        parallel.close()
        sync.close()


def test_stepping_past_the_end_is_an_error():
    env = OffloadEnv(small(duration="1s"))
    episode(env, 1)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)


def test_stepping_before_reset_is_an_error():
    env = gymnasium.make("edgefed/Offload-v0", scenario=small(duration="1s"))
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
