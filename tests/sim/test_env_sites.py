"""edgefed/Offload-v0 on a scenario with `sites:`: an action per site, per-site observation entries."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gymnasium")

from gymnasium.utils.env_checker import check_env  # noqa: E402

from sim import scenario as scenarios  # noqa: E402
from sim.envs.offload import OffloadEnv  # noqa: E402
from sim.policies.base import FIRST_SITE  # noqa: E402
from sim.policies.features import DIM, SITE_FEATURES, features, site_features  # noqa: E402


def three_sites(duration: str = "10s") -> scenarios.Scenario:
    """A slow downtown server and two fast ones along a metro line."""
    site = lambda name, x, cores, link: {"name": name, "position": [x, 0], "server": {"cores": cores},  # noqa: E731
                                         "cells": [{"name": f"{name}-{link}", "link": link, "radius": 2000}]}
    return scenarios.parse({
        "name": "gym-sites", "seed": 2, "duration": duration, "policy": {"name": "edge"},
        "sites": [site("down", 0, 1, "5g"), site("mid", 3000, 8, "lte"), site("up", 6000, 8, "lte")],
        "metro": [{"between": ["down", "mid"], "bandwidth": "1Gbps", "rtt": "2ms"},
                  {"between": ["mid", "up"], "bandwidth": "1Gbps", "rtt": "2ms"}],
        "fleet": [{"profile": "smartphone", "count": 6, "link": "5g", "site": "down",
                   "workload": {"kind": "poisson", "rate": "4/s", "deadline": "100ms"}},
                  {"profile": "smartphone", "count": 2, "link": "lte", "site": "up",
                   "workload": {"kind": "poisson", "rate": "1/s", "deadline": "150ms"}}],
        "models": {"edge": {"hidden": 64, "layers": 2}},
        "federation": {"enabled": False, "pretrain": {"rounds": 0}},
    }, "test")


def test_the_spaces_cover_every_site():
    env = OffloadEnv(three_sites())
    assert env.action_space.n == FIRST_SITE + 3 == 6
    assert env.observation_space.shape == (DIM + len(SITE_FEATURES) * 3,) == (21,)
    check_env(env, skip_render_check=True)


def test_the_observation_appends_each_sites_estimates_over_the_deadline():
    env = OffloadEnv(three_sites())
    obs, info = env.reset(seed=1)
    raw = env.decision
    assert obs[:DIM].tobytes() == features(raw).tobytes()
    per_site = obs[DIM:].reshape(3, len(SITE_FEATURES))
    assert per_site.tolist() == np.array(site_features(raw), np.float32).reshape(3, 3).tolist()
    # a downtown phone: its own site is 0 hops away, `up` two 2 ms hops (plus the access round trip)
    assert raw.home_site == 0
    rtt = per_site[:, 2] * raw.deadline_s
    assert rtt[2] - rtt[0] == pytest.approx(0.004, rel=1e-5) and rtt[1] - rtt[0] == pytest.approx(0.002, rel=1e-5)
    assert per_site[2, 0] > per_site[1, 0]  # the same server speed, one hop further
    assert info["action_mask"].tolist() == [1] * 6


def test_a_site_action_serves_the_request_at_that_site():
    env = OffloadEnv(three_sites("2s"))
    env.reset(seed=3)
    done, decided = False, []
    while not done:
        decided.append(env.decision.request)
        _, _, done, _, _ = env.step(FIRST_SITE + 2)  # everything to `up`
    table = env.world.table()
    assert len(decided) == len(table["site"]) > 50
    assert set(table["site"].tolist()) == {2} and set(table["target"].tolist()) == {1}  # recorded as edge, at `up`


def test_a_seeded_episode_on_sites_is_reproduced_bit_for_bit():
    def run(seed):
        env = OffloadEnv(three_sites("3s"))
        obs, _ = env.reset(seed=seed)
        rng, rows, rewards, done = np.random.default_rng(7), [obs], [], False
        while not done:
            obs, reward, done, _, _ = env.step(int(rng.integers(env.action_space.n)))
            rows.append(obs)
            rewards.append(reward)
        return np.array(rows).tobytes(), np.array(rewards).tobytes(), len(rewards)

    first, again = run(5), run(5)
    assert first == again and first[2] > 50
    assert run(6)[:2] != first[:2]
