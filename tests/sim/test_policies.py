"""Each offload policy on a crafted scenario whose right answer is known."""
from __future__ import annotations

import numpy as np
import pytest

from sim import policies
from sim import scenario as scenarios
from sim.policies import CLOUD, EDGE, LOCAL, Observation
from sim.catalogue import LINKS
from sim.world import World


def _scenario(policy: str, params=None, *, profile="mcu-cortex-m4", link="wifi", deadline="20ms", count=3,
              rate="2/s", duration="10min", battery=None) -> scenarios.Scenario:
    group = {"profile": profile, "count": count, "link": link,
             "workload": {"kind": "poisson", "rate": rate, "deadline": deadline}}
    if battery:
        group["battery"] = battery
    return scenarios.parse({
        "name": "policy-test", "seed": 9, "duration": duration,
        "policy": {"name": policy, "params": params or {}}, "fleet": [group],
        "models": {"edge": {"hidden": 64, "layers": 2}},
        "federation": {"enabled": False, "pretrain": {"rounds": 0}}}, "policy-test")


def _run(sc: scenarios.Scenario) -> dict:
    world = World(sc)
    world.run()
    table = world.table()
    served = table["dropped"] == 0
    return {"target": table["target"][served], "latency": table["latency_s"][served].astype(float),
            "deadline": table["deadline_s"][served].astype(float), "world": world,
            "energy": sum(sum(world.energy.spent[c]) for c in ("compute", "radio_tx", "radio_rx", "radio_tail"))}


def test_deadline_energy_offloads_when_local_cannot_meet_the_deadline():
    # an LSTM 64x2 takes 135 ms on a Cortex-M4: a 20 ms deadline forces offloading
    tight = _run(_scenario("deadline-energy", deadline="20ms"))
    assert np.mean(tight["target"] == LOCAL) == 0.0
    # with a 1 s deadline local (6 mJ) is cheaper than the WiFi radio's tail (31 mJ)
    loose = _run(_scenario("deadline-energy", deadline="1s"))
    assert np.mean(loose["target"] == LOCAL) == 1.0


def _observation(soc: float) -> Observation:
    obs = Observation()
    obs.battery_soc = soc
    obs.radio = LINKS["wifi"]
    obs.up_bps = obs.down_bps = obs.wan_bps = 8e7
    obs.up_bytes = obs.down_bytes = 300.0
    obs.compute_s = (0.1, 0.001, 0.001)
    obs.compute_w = 0.05
    return obs


def test_battery_threshold_switches_exactly_at_its_threshold():
    policy = policies.make_policy("battery-threshold", {"threshold": 0.4}, np.random.default_rng(0))
    assert policy.decide(_observation(0.4)) == LOCAL
    assert policy.decide(_observation(0.4 + 1e-12)) == LOCAL
    assert policy.decide(_observation(0.4 - 1e-12)) in (EDGE, CLOUD)
    assert policy.decide(_observation(0.0)) == EDGE  # same radio energy: the edge wins the tie


def test_lyapunov_trades_energy_for_latency_as_v_falls():
    results = [_run(_scenario("lyapunov", {"V": v, "energy_budget_j": 0.005}, deadline="1s"))
               for v in (100.0, 1.0, 0.01, 0.0001)]
    energy = [r["energy"] for r in results]
    latency = [r["latency"].mean() for r in results]
    assert all(a > b for a, b in zip(energy, energy[1:])), energy  # less energy as V falls
    assert all(a < b for a, b in zip(latency, latency[1:])), latency  # more latency as V falls


def test_linucb_learns_the_best_target_of_a_stationary_run():
    sc = dict(deadline="50ms", rate="1/s", duration="30min", count=4)
    params = {"alpha": 0.5, "lambda_energy": 1.0, "miss_penalty": 1.0}

    def mean_reward(run):
        missed = run["latency"] > run["deadline"]
        return -np.mean(run["latency"] / run["deadline"] + missed)

    rewards = {t: mean_reward(_run(_scenario(name, **sc))) for t, name in ((LOCAL, "local"), (EDGE, "edge"),
                                                                          (CLOUD, "cloud"))}
    best = max(rewards, key=rewards.get)
    learned = _run(_scenario("linucb", params, **sc))["target"]
    late = learned[len(learned) // 2:]
    assert np.mean(late == best) > 0.9, (rewards, np.bincount(late, minlength=3))


def test_oracle_is_never_worse_on_mean_latency_in_a_single_device_run():
    means = {}
    for name in ("oracle", "local", "edge", "cloud", "greedy", "deadline-energy", "lyapunov", "linucb", "random"):
        means[name] = _run(_scenario(name, profile="smartphone", link="lte", count=1, rate="1/s",
                                     deadline="100ms", duration="20min"))["latency"].mean()
    assert all(means["oracle"] <= value + 1e-12 for value in means.values()), means


def test_unknown_parameters_get_one_line_errors():
    with pytest.raises(scenarios.ScenarioError) as info:
        _scenario("lyapunov", {"W": 3})
    assert str(info.value) == "policy-test: policy.params: policy 'lyapunov' has no parameter 'W'; allowed: V, energy_budget_j, phi, accuracy_weight"


def test_third_party_policy_through_entry_point(install_plugins):
    install_plugins(always_cloud=lambda params, rng: policies.make_policy("cloud", {}, rng))
    assert "always-cloud" in policies.registry()
    run = _run(_scenario("always-cloud"))
    assert np.all(run["target"] == CLOUD)


class _Recording:
    """A plugin policy without the optional flags: it gets an observation and every outcome."""

    name = "recording"

    def __init__(self):
        self.decided, self.outcomes = [], []

    def decide(self, obs):
        self.decided.append((obs.device, obs.now, obs.request))
        return EDGE if obs.request % 2 else LOCAL

    def observe(self, target, latency_s, energy_j, met_deadline, request):
        self.outcomes.append((request, target, latency_s))


class _Deaf(_Recording):
    uses_observation = False
    uses_outcomes = False

    def decide(self, obs):
        assert obs is None
        return EDGE

    def observe(self, *outcome):
        raise AssertionError("a policy with uses_outcomes = False is never told outcomes")


@pytest.mark.parametrize("policy_class", [_Recording, _Deaf])
def test_policies_get_observations_and_outcomes_unless_they_opt_out(install_plugins, policy_class):
    policy = policy_class()
    install_plugins(recording=lambda params, rng: policy)
    world = World(_scenario("recording", profile="smartphone", link="lte", duration="3min"))
    world.run()
    t = world.table()
    if policy_class is _Deaf:
        assert (t["target"] == EDGE).all()
        return
    assert [d[2] for d in policy.decided] == list(range(len(t["target"])))  # one decision per request, in order
    np.testing.assert_array_equal([d[1] for d in policy.decided], t["arrival_s"])
    served = np.flatnonzero(np.isfinite(t["latency_s"]))
    assert sorted(o[0] for o in policy.outcomes) == served.tolist()  # every answered request, once
    np.testing.assert_allclose([o[2] for o in sorted(policy.outcomes)], t["latency_s"][served], rtol=1e-6)


def test_compare_writes_a_table_with_confidence_intervals(tmp_path):
    from sim.app.compare import METRICS, compare

    sc = _scenario("local", profile="smartphone", link="lte", duration="3min")
    rows = compare(sc, ["local", "edge"], [1, 2], tmp_path)
    assert [r["policy"] for r in rows] == ["local", "edge"]
    assert (tmp_path / "comparison.csv").read_text().splitlines()[0].startswith("policy,seeds,latency_mean_ms,")
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["edge-seed1", "edge-seed2", "local-seed1",
                                                                     "local-seed2"]
    for row in rows:
        assert row["seeds"] == 2 and all(np.isfinite(row[f"{m}_ci95"]) for m in ("latency_mean_ms", "dropped"))
        assert set(METRICS) <= set(row)
    # common random numbers: both policies saw the same arrivals
    import pyarrow.parquet as pq

    a = pq.read_table(tmp_path / "runs" / "local-seed1" / "requests.parquet", columns=["arrival_s", "device"])
    b = pq.read_table(tmp_path / "runs" / "edge-seed1" / "requests.parquet", columns=["arrival_s", "device"])
    assert a.equals(b)
    assert rows[0]["latency_mean_ms"] < rows[1]["latency_mean_ms"]  # a phone computes locally in 3 ms vs LTE RTT


@pytest.mark.parametrize("name", ["deadline-energy", "lyapunov"])
def test_accuracy_weight_moves_a_stale_device_to_the_servers_model(name):
    obs = _observation(1.0)
    obs.compute_s = (0.001, 0.001, 0.001)  # local is fast and cheap...
    obs.deadline_s, obs.access_rtt_s, obs.wan_rtt_s = 1.0, 0.004, 0.04
    obs.local_version, obs.server_version = 1, 3  # ...but its model is two rounds behind
    plain = policies.make_policy(name, {}, np.random.default_rng(0))
    aware = policies.make_policy(name, {"accuracy_weight": 10.0}, np.random.default_rng(0))
    assert plain.decide(obs) == LOCAL
    assert aware.decide(obs) == EDGE
    obs.local_version = 3  # once it has the newest model, local wins again
    assert aware.decide(obs) == LOCAL
