"""Greedy skips the other sites when even their round trip plus compute cannot beat its best target; the
decision is the one it makes looking at every site."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from sim.policies import make_policy
from sim.policies.observation import Observation, site_floor_s

seconds = st.floats(0.0, 0.2, allow_nan=False)
rates = st.floats(1e5, 1e10, allow_nan=False)


@st.composite
def observations(draw):
    sites = draw(st.integers(2, 6))
    obs = Observation()
    obs.compute_s = (draw(seconds), draw(seconds), draw(seconds))
    obs.cpu_wait_s, obs.edge_wait_s, obs.access_rtt_s, obs.wan_rtt_s = (draw(seconds) for _ in range(4))
    obs.up_bytes, obs.down_bytes = draw(st.floats(0, 1e5)), draw(st.floats(0, 1e5))
    obs.up_bps, obs.down_bps, obs.wan_bps = draw(rates), draw(rates), draw(rates)
    obs.home_site = draw(st.integers(0, sites - 1))
    obs.site_rtt_s = tuple(draw(seconds) for _ in range(sites))
    obs.site_compute_s = tuple(draw(seconds) for _ in range(sites))
    obs.site_wait_s = [draw(seconds) for _ in range(sites)]
    obs.site_metro_bps = tuple(float("inf") if k == obs.home_site else draw(rates) for k in range(sites))
    return obs


@settings(max_examples=300, deadline=None)
@given(observations())
def test_the_floor_never_changes_greedys_choice(obs):
    policy = make_policy("greedy", {}, np.random.default_rng(0))
    unknown = policy.decide(obs)  # site_floor_s left at -inf: every site is looked at
    obs.site_floor_s = site_floor_s(obs.site_rtt_s, obs.site_compute_s, obs.home_site)
    assert policy.decide(obs) == unknown
    assert all(latency >= obs.site_floor_s for site, latency in enumerate(obs.site_latency_estimates_s())
               if site != obs.home_site)


def test_the_floor_is_the_least_other_sites_round_trip_plus_compute():
    assert site_floor_s((0.001, 0.004, 0.002), (0.010, 0.001, 0.020), home=0) == 0.004 + 0.001
    assert site_floor_s((0.001,), (0.010,), home=0) == float("inf")  # one site: nothing else to beat
