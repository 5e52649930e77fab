"""sim/dvfs.py: governors set the step in force; the step sets compute time and power; policies may set it."""
from __future__ import annotations

import numpy as np
import pytest

from clients.spec import ModelSpec, model_cost
from sim import scenario as scenarios
from sim.app.summary import device_rows
from sim.catalogue import DEVICES
from sim.dvfs import nearest_step, ondemand_step, schedutil_step
from sim.energy import ACTIVE_COMPONENTS, COMPONENTS
from sim.policies import EDGE, LOCAL
from sim.world import REQUEST_COLUMNS, World

PI = DEVICES["raspberry-pi-4"]
STEPS = PI.pstates.frequency_hz  # 600, 750, 1000, 1500 MHz


def _scenario(governor=None, policy="local", rate="2/s", duration="20min", count=3, **entry) -> scenarios.Scenario:
    group = {"profile": "raspberry-pi-4", "count": count, "link": "wifi",
             "workload": {"kind": "poisson", "rate": rate, "deadline": "100ms"}, **entry}
    if governor is not None:
        group["governor"] = governor
    return scenarios.parse({"name": "d", "seed": 4, "duration": duration, "policy": {"name": policy},
                            "fleet": [group, {"profile": "smartphone", "count": 2, "link": "lte", "cpu_scale": 0.5,
                                              "workload": {"kind": "poisson", "rate": "1/s", "deadline": "250ms"}}],
                            "federation": {"enabled": False}}, "d.yaml")


def _run(scenario) -> World:
    world = World(scenario)
    world.run()
    return world


def test_userspace_at_a_cpu_scale_is_todays_cpu_scale_column_by_column():
    today = _run(_scenario(policy="greedy", cpu_scale=0.37))
    governed = _run(_scenario({"name": "userspace", "cpu_scale": 0.37}, policy="greedy"))
    assert governed.dvfs is None  # today's static path: no table, no process
    a, b = today.table(), governed.table()
    for column in REQUEST_COLUMNS:
        np.testing.assert_array_equal(a[column], b[column], err_msg=column)
    assert device_rows(today) == device_rows(governed)
    assert today.fleet.local_compute_s[0] == model_cost(ModelSpec(**today.scenario.models.edge.model_dump())) \
        .flops_per_inference / (PI.lstm_flops_per_s * 0.37)


@pytest.mark.parametrize("governor, step", [({"name": "performance"}, 3), ({"name": "powersave"}, 0),
                                            ({"name": "userspace", "frequency": "750MHz"}, 1)])
def test_a_static_governor_sets_the_tables_step_for_the_whole_run(governor, step):
    world = _run(_scenario(governor))
    flops = world.fleet.flops_per_inference
    speed = PI.lstm_flops_per_s * (STEPS[step] / STEPS[-1])
    t = world.table()
    pi = (t["device"] < 3) & (t["target"] == LOCAL)
    np.testing.assert_array_equal(t["compute_s"][pi], np.float32(flops / speed))
    # the table's whole-device power at the step, minus idle, for as long as it computes
    np.testing.assert_allclose(t["energy_compute_j"][pi], (PI.pstates.active_w[step] - PI.idle_w) * flops / speed,
                               rtol=1e-6)
    rows = device_rows(world)
    assert rows[0]["governor"] == governor["name"] and rows[0]["dvfs_transitions"] == 0
    assert rows[0][f"time_at_{STEPS[step] / 1e6:g}mhz_s"] == world.duration_s
    assert rows[3]["governor"] == "" and rows[3]["time_at_600mhz_s"] is None  # the phones have no governor


def test_the_governor_rules_follow_the_kernels():
    assert [ondemand_step(STEPS, load, 0.8) for load in (0.0, 0.05, 0.1, 0.3, 0.5, 0.7, 0.8, 0.81)] == [0, 0, 1, 1, 2, 2, 3, 3]
    # schedutil: 1.25 x f_cur x load, the slowest step at or above it
    assert [schedutil_step(STEPS, load, 3) for load in (0.0, 0.3, 0.35, 0.5, 0.6)] == [0, 0, 1, 2, 3]
    assert schedutil_step(STEPS, 0.6, 0) == 0  # 1.25 x 600 MHz x 0.6 = 450 MHz
    assert nearest_step(STEPS, 675e6) == 0 and nearest_step(STEPS, 676e6) == 1


def _load_at(world: World, dev: int, when: float, jobs_s: list[float]):
    """A test process: at `when`, admit jobs of these lengths to the device's CPU (one per core)."""
    yield world.env.timeout(when)
    for seconds in jobs_s:
        world.fleet.cpu[dev].admit(world.env.now, seconds)


def test_ondemand_steps_up_under_load_and_down_when_idle_at_the_computed_instants():
    # no requests of their own (rate tiny, 30 s): the only load is four 3 s jobs from t = 2.5 s
    world = World(_scenario({"name": "ondemand", "sampling": "1s"}, rate="1/h", duration="30s", count=1))
    world.env.process(_load_at(world, 0, 2.5, [3.0] * 4))
    changes = []
    set_step = world.dvfs.set_step
    world.dvfs.set_step = lambda dev, step, now: (changes.append((now, dev, step))
                                                  if step != world.dvfs.step[dev] else None, set_step(dev, step, now))
    world.run()
    # t=1: idle, top -> 600. t=3: half a window busy, 50% -> 600 + 0.5 x 900 = 1050 -> 1000 MHz (nearest)
    # t=4, 5: 100% -> top. t=6: busy until 5.5 (+ 2 stalls) -> 50% -> 1000. t=7: idle -> 600
    assert [(when, step) for when, _, step in changes] == [(1.0, 0), (3.0, 2), (4.0, 3), (6.0, 2), (7.0, 0)]
    stall = PI.pstates.transition_s
    # every change stalls the four cores: the jobs ran to 5.5 s + 2 stalls; the changes at 6 s and 7 s found them idle
    assert world.fleet.cpu[0].free_at == [7.0 + stall] * 4
    assert world.fleet.cpu[0].busy_s == 12.0 and world.dvfs._stalled_s[0] == 5 * 4 * stall
    rows = device_rows(world)
    assert rows[0]["dvfs_transitions"] == 5
    assert rows[0]["time_at_1500mhz_s"] == pytest.approx(1.0 + 2.0) and rows[0]["time_at_1000mhz_s"] == 2.0
    assert rows[0]["time_at_600mhz_s"] == pytest.approx(2.0 + 23.0) and rows[0]["time_at_750mhz_s"] == 0.0


def test_schedutil_picks_the_headroom_step_at_the_computed_instants():
    world = World(_scenario({"name": "schedutil", "sampling": "1s"}, rate="1/h", duration="10s", count=1))
    world.env.process(_load_at(world, 0, 1.5, [4.0, 4.0]))  # two of four cores busy from 1.5 s to 5.5 s
    world.run()
    residency = world.dvfs.residency_s[0]
    # t=1: idle -> 600. t=2: 25% at 600 -> 1.25 x 600 x 0.25 = 187.5 MHz -> 600. every later busy window 50% at
    # 600 -> 375 MHz -> 600: schedutil stays at the bottom while two cores of four are busy at the bottom step
    assert residency == [9.0, 0.0, 0.0, 1.0] and world.dvfs.transitions[0] == 1


def test_the_compute_time_column_follows_the_step_in_force_when_each_request_was_decided():
    world = _run(_scenario({"name": "ondemand", "sampling": "2s"}, rate="20/s", duration="2min", count=1))
    t = world.table()
    local = (t["device"] == 0) & (t["target"] == LOCAL)
    flops = world.fleet.flops_per_inference
    top, bottom = np.float32(flops / PI.lstm_flops_per_s), np.float32(flops / (PI.lstm_flops_per_s * 0.4))
    # it starts at the top; the first sample (t = 2 s) finds a nearly idle CPU and drops to 600 MHz for good
    early = local & (t["arrival_s"] < 2.0)
    assert (t["compute_s"][early] == top).all() and (t["compute_s"][local & ~early] == bottom).all()
    assert world.dvfs.residency_s[0] == [118.0, 0.0, 0.0, 2.0]
    # the latency of a request that did not queue is its compute time at the step it was decided at
    unqueued = local & (t["queue_s"] == 0)
    np.testing.assert_allclose(t["latency_s"][unqueued], t["compute_s"][unqueued], rtol=1e-6)


class _Alternating:
    """A test policy that sets the step per request: the top step for odd rows, the bottom one for even rows."""

    name, sets_dvfs_step, uses_outcomes = "alternating", True, False

    def decide(self, obs):
        return (LOCAL, 3 * (obs.request % 2)) if obs.device < 3 else EDGE

    def observe(self, *args):
        pass


def test_a_policy_sets_the_step_per_request():
    world = World(_scenario({"name": "userspace", "frequency": "1GHz"}, duration="5min"), policy=_Alternating())
    world.run()
    t = world.table()
    pi = np.flatnonzero((t["device"] < 3) & (t["dropped"] == 0))
    flops = world.fleet.flops_per_inference
    expected = np.where(pi % 2, flops / PI.lstm_flops_per_s,
                        flops / (PI.lstm_flops_per_s * 0.4))
    np.testing.assert_array_equal(t["compute_s"][pi], expected.astype(np.float32))
    for dev in range(3):  # from 1 GHz to the first row's step, then every change of parity between its rows
        rows = pi[t["device"][pi] == dev]
        assert world.dvfs.transitions[dev] == 1 + np.count_nonzero(np.diff(rows % 2))
    assert (t["target"][t["device"] >= 3] == EDGE).all()


def test_a_policy_that_sets_steps_needs_a_table_governor():
    with pytest.raises(ValueError, match="policy 'alternating' sets DVFS steps: give the fleet entries a `governor:`"):
        World(_scenario(), policy=_Alternating())


def test_local_dvfs_runs_at_the_slowest_step_that_meets_the_deadline():
    world = _run(scenarios.parse({
        "name": "d", "seed": 4, "duration": "10min", "policy": {"name": "local-dvfs"},
        "profiles": {"raspberry-pi-4": {"lstm_flops_per_s": 2e7}},  # 3 ms at the top step, 7.5 ms at 600 MHz
        "fleet": [{"profile": "raspberry-pi-4", "count": 2, "link": "wifi", "governor": {"name": "performance"},
                   "workload": {"kind": "poisson", "rate": "1/s", "deadline": "5ms"}}],
        "federation": {"enabled": False}}, "d.yaml"))
    t = world.table()
    flops = world.fleet.flops_per_inference
    # 7.5 ms at 600 MHz and 6 ms at 750 MHz miss the 5 ms deadline; 1 GHz (4.5 ms) is the slowest that meets it
    assert (t["target"] == LOCAL).all()
    np.testing.assert_array_equal(np.unique(t["compute_s"]), [np.float32(flops / (2e7 * (1e9 / 1.5e9)))])
    assert world.dvfs.transitions == {0: 1, 1: 1} and (t["latency_s"] <= 5e-3).all()


@pytest.mark.parametrize("entry, message", [
    ({"profile": "smartphone", "governor": {"name": "ondemand"}},
     ("fleet[0].governor: ondemand needs the profile's P-state table; 'smartphone' has none (profiles with one: "
      "raspberry-pi-4)")),
    ({"governor": {"name": "userspace", "frequency": "1.2GHz"}},
     "fleet[0].governor.frequency: must be a step of raspberry-pi-4: 600MHz, 750MHz, 1000MHz, 1500MHz; got 1200MHz"),
    ({"governor": {"name": "performance"}, "cpu_scale": 0.5},
     "fleet[0].cpu_scale: is the userspace governor's setting; with `governor:` drop `cpu_scale:`"),
    ({"governor": {"name": "userspace"}}, "userspace needs exactly one of `cpu_scale:` (f / f_max) or `frequency:`"),
    ({"governor": {"name": "ondemand", "frequency": "1GHz"}}, "`cpu_scale:` and `frequency:` belong to userspace"),
    ({"governor": {"name": "ondemand", "sampling": "10us"}}, "sampling must be >= 1ms"),
    ({"governor": {"name": "turbo"}}, "fleet[0].governor.name"),
    ({"profile": "jetson-nano-gpu", "governor": {"name": "powersave"}},
     "fleet[0].governor: profile 'jetson-nano-gpu' runs inference on its accelerator; a governor scales the CPU only"),
])
def test_a_bad_governor_is_one_line_naming_the_field(entry, message):
    group = {"profile": "raspberry-pi-4", "count": 1, "link": "wifi",
             "workload": {"kind": "poisson", "rate": "1/s", "deadline": "100ms"}, **entry}
    with pytest.raises(scenarios.ScenarioError) as caught:
        scenarios.parse({"name": "d", "duration": "1min", "fleet": [group]}, "d.yaml")
    assert message in str(caught.value) and str(caught.value).startswith("d.yaml: fleet[0]")


def test_energy_is_conserved_while_governors_change_steps():
    """Components == battery drain for battery Pis whose steps change (ondemand; local-dvfs per request under
    schedutil) until their batteries empty; every joule above idle is some request's."""
    for policy, governor in (("random", {"name": "ondemand", "sampling": "500ms"}),
                             ("local-dvfs", {"name": "schedutil", "sampling": "500ms"})):
        world = _run(scenarios.parse({
            "name": "c", "seed": 6, "duration": "3h",
            "policy": {"name": policy, "params": {"p_local": 0.6, "p_edge": 0.2, "p_cloud": 0.2}
                       if policy == "random" else {}},
            "profiles": {"raspberry-pi-4": {"lstm_flops_per_s": 2e6}},  # 30 ms a forecast at the top step
            "fleet": [{"profile": "raspberry-pi-4", "count": 3, "link": "wifi", "battery": "20kJ",
                       "governor": governor, "workload": {"kind": "bursty", "rate": "5/s", "deadline": "60ms"}}],
            "federation": {"enabled": False}}, "c.yaml"))
        energy = world.energy
        for dev in range(3):
            components = sum(energy.spent[c][dev] for c in COMPONENTS)
            assert components == pytest.approx(energy.capacity_j[dev] - energy.level_j[dev], rel=1e-9)
        assert sum(energy.deaths) >= 1 and sum(world.dvfs.transitions.values()) > 10
        table = world.recorder.table()
        billed = np.sum(table["energy_compute_j"], dtype=np.float64) + np.sum(table["energy_radio_j"], dtype=np.float64)
        assert billed == pytest.approx(sum(sum(energy.spent[c]) for c in ACTIVE_COMPONENTS), rel=1e-5)
