"""The world's models of workload, DVFS, profile overrides, sampling and servers."""
from __future__ import annotations

import numpy as np
import pytest

from sim import scenario as scenarios
from sim import workload
from sim.harvest import Solar
from sim.world import REQUEST_COLUMNS, World


def _scenario(**changes) -> scenarios.Scenario:
    data = {"name": "w", "seed": 2, "duration": "2h", "policy": {"name": "local"},
            "fleet": [{"profile": "raspberry-pi-4", "count": 5, "link": "wifi",
                       "workload": {"kind": "poisson", "rate": "1/s", "deadline": "100ms"}}],
            "federation": {"enabled": False}}
    data.update(changes)
    return scenarios.parse(data, "w")


def test_bursty_workload_keeps_its_mean_rate_and_is_overdispersed():
    rng = np.random.default_rng(1)
    n, rate, hours = 50, 0.5, 20
    kinds = np.full(n, workload.BURSTY)
    bursty = (np.full(n, 8.0), np.full(n, 30.0), np.full(n, 120.0))
    times, devs = map(np.concatenate, zip(*workload.arrival_chunks(rng, kinds, np.full(n, rate), hours * 3600.0,
                                                                   bursty=bursty)))
    assert np.all(np.diff(times) >= 0)
    assert len(times) / (n * hours * 3600.0) == pytest.approx(rate, rel=0.02)
    counts = np.histogram(times, bins=np.arange(0, hours * 3600.0 + 1, 10.0))[0]
    assert counts.var() / counts.mean() > 3.0  # a Poisson stream would give about 1


def test_periodic_workload_is_exactly_periodic():
    rng = np.random.default_rng(2)
    times, devs = map(np.concatenate, zip(*workload.arrival_chunks(rng, np.full(3, workload.PERIODIC),
                                                                   np.full(3, 0.1), 3600.0, target_per_chunk=50)))
    for d in range(3):
        gaps = np.diff(times[devs == d])
        np.testing.assert_allclose(gaps, 10.0, rtol=1e-9)
        assert len(gaps) + 1 == 360


def test_dvfs_slows_compute_and_cuts_dynamic_energy_by_the_cube():
    full = World(_scenario())
    half = World(_scenario(fleet=[{"profile": "raspberry-pi-4", "count": 5, "link": "wifi", "cpu_scale": 0.5,
                                   "workload": {"kind": "poisson", "rate": "1/s", "deadline": "100ms"}}]))
    for world in (full, half):
        world.run()
    a, b = full.table(), half.table()
    np.testing.assert_array_equal(a["arrival_s"], b["arrival_s"])  # same arrivals (own random stream)
    assert b["compute_s"].mean() == pytest.approx(2 * a["compute_s"].mean(), rel=1e-12)
    # energy = P_dyn s^3 * t / s = s^2 of the full-speed energy
    assert b["energy_compute_j"].sum() == pytest.approx(0.25 * a["energy_compute_j"].sum(), rel=1e-9)


def test_scenario_profile_override_and_new_profile():
    sc = _scenario(profiles={"raspberry-pi-4": {"idle_w": 3.5}, "pi-cluster-node": {"base": "raspberry-pi-4",
                                                                                      "lstm_flops_per_s": 4e9}},
                   fleet=[{"profile": "pi-cluster-node", "count": 2, "link": "wifi",
                           "workload": {"kind": "poisson", "rate": "1/s", "deadline": "100ms"}},
                          {"profile": "raspberry-pi-4", "count": 1, "link": "wifi",
                           "workload": {"kind": "poisson", "rate": "1/s", "deadline": "100ms"}}])
    world = World(sc)
    assert world.devices[0].profile.lstm_flops_per_s == 4e9 and world.devices[0].profile.idle_w == 2.7
    assert world.devices[2].profile.idle_w == 3.5
    with pytest.raises(scenarios.ScenarioError, match=r"profiles.x: a new profile needs `base"):
        _scenario(profiles={"x": {"idle_w": 1.0}})


def test_solar_harvest_closed_form():
    panel = Solar(2.0)
    day = 2.0 * 12 * 3600 * 2 / np.pi
    assert panel.energy_j(0, 86400) == pytest.approx(day)
    assert panel.energy_j(0, 6 * 3600) == 0.0
    assert panel.energy_j(6 * 3600, 12 * 3600) == pytest.approx(day / 2)
    assert panel.energy_j(3 * 86400 + 5, 4 * 86400 + 5) == pytest.approx(day)


@pytest.mark.slow  # 8 s
def test_sampler_reports_link_utilisation_that_matches_the_load():
    sc = _scenario(policy={"name": "edge"}, fleet=[{"profile": "smartphone", "count": 20, "link": "lte",
                                                    "workload": {"kind": "poisson", "rate": "5/s", "deadline": "1s"}}])
    world = World(sc)
    world.run()
    up = [s for s in world.link_samples if s["link"] == "smartphone/lte/up"]
    assert len(up) == 200
    offered = 20 * 5 * world.up_bytes * 8 / 6e6  # offered load of the 6 Mbps uplink
    # M/G/1-PS: the link is busy a fraction rho of the time
    assert np.mean([s["utilisation"] for s in up]) == pytest.approx(offered, rel=0.05)
    thr = np.mean([s["throughput_bps"] for s in up])
    assert thr == pytest.approx(20 * 5 * world.up_bytes * 8, rel=0.05)


def test_edge_server_power_is_linear_in_utilisation():
    world = World(_scenario(policy={"name": "edge"}))
    world.run()
    edge = world.topology.sites[0].server
    busy = edge.busy_s / (edge.cores * world.duration_s)
    assert 0 < busy < 1
    assert world.edge_energy_j() == pytest.approx((100 + 140 * busy) * world.duration_s)


def test_bandwidth_trace_changes_the_link_rate(tmp_path):
    trace = tmp_path / "lte.csv"
    trace.write_text("time_s,up_bps,down_bps\n0,6e6,13e6\n3600,0.6e6,1.3e6\n")
    path = tmp_path / "s.yaml"
    import yaml

    path.write_text(yaml.safe_dump({
        "name": "trace", "seed": 1, "duration": "2h", "policy": {"name": "edge"},
        "fleet": [{"profile": "smartphone", "count": 5, "link": "lte", "bandwidth_trace": "lte.csv",
                   "workload": {"kind": "poisson", "rate": "1/s", "deadline": "1s"}}],
        "federation": {"enabled": False}}))
    world = World(scenarios.load(path))
    world.run()
    table = world.table()
    first = table["arrival_s"] < 3600
    # the uplink transfer of a 296-byte request takes 10x longer once the trace cuts the rate 10x
    ratio = np.median(table["transfer_s"][~first]) / np.median(table["transfer_s"][first])
    assert 5 < ratio < 12, ratio
    bad = tmp_path / "bad.yaml"
    bad.write_text(path.read_text().replace("lte.csv", "missing.csv"))
    with pytest.raises(scenarios.ScenarioError, match=r"fleet\[0\].bandwidth_trace: bandwidth trace .*missing.csv' cannot be read"):
        scenarios.load(bad)


def test_output_settings_sample_requests_and_switch_traces_off(tmp_path):
    import json

    import pyarrow.parquet as pq

    from sim.app.runner import run_scenario, write_run

    base = {"federation": {"enabled": False, "pretrain": {"rounds": 0}}, "duration": "20min"}
    full = run_scenario(_scenario(**base))
    sampled = run_scenario(_scenario(**base, output={"requests": "sample", "request_sample": 0.4,
                                                     "sample_every": "1min"}))
    assert sampled.summary == full.summary  # the headline metrics always cover every request
    assert len({r["time_s"] for r in full.links}) == 200 and len({r["time_s"] for r in sampled.links}) == 20
    write_run(full, tmp_path / "full", plots=False)
    write_run(sampled, tmp_path / "sampled", plots=False)
    written = pq.read_table(tmp_path / "sampled" / "requests.parquet").to_pydict()
    everything = pq.read_table(tmp_path / "full" / "requests.parquet").to_pydict()
    assert len(set(written["device"])) == 2  # 40% of 5 devices, with every request of each
    for dev in set(written["device"]):
        assert [a for a, d in zip(written["arrival_s"], written["device"]) if d == dev] == \
            [a for a, d in zip(everything["arrival_s"], everything["device"]) if d == dev]
    assert json.loads((tmp_path / "sampled" / "summary.json").read_text())["requests_written"] == len(written["device"])
    off = run_scenario(_scenario(**base, output={"requests": "none", "links": False, "battery": False}))
    assert off.links == [] and off.summary == full.summary
    write_run(off, tmp_path / "off", plots=True)
    assert not (tmp_path / "off" / "requests.parquet").exists() and not (tmp_path / "off" / "links.csv").exists()
    assert (tmp_path / "off" / "plots" / "energy_per_request.png").exists()  # figures that need no trace still draw


def test_a_microcontroller_offloading_over_lora_pays_the_closed_form_time_and_energy():
    from clients.model import ModelSpec, model_cost
    from sim.catalogue import LINKS
    from sim.world import REQUEST_OVERHEAD_BYTES

    lora = LINKS["lora"]
    sc = _scenario(duration="1h", policy={"name": "edge"},
                   fleet=[{"profile": "mcu-cortex-m4", "count": 1, "link": "lora",
                           "workload": {"kind": "periodic", "rate": "6/h", "deadline": "5s"}}],
                   models={"edge": {"hidden": 8}}, edge={"cores": 1, "speed": 1e9})
    world = World(sc)
    world.run()
    t = world.table()
    assert len(t["latency_s"]) == 6
    cost = model_cost(ModelSpec(hidden=8))
    up, down = cost.input_bytes + REQUEST_OVERHEAD_BYTES, cost.output_bytes + REQUEST_OVERHEAD_BYTES
    t_up, t_down = up * 8 / lora.up_bps, down * 8 / lora.down_bps  # alone on the link: the whole 5.47 kbit/s
    compute = cost.flops_per_inference / 1e9
    np.testing.assert_allclose(t["latency_s"], t_up + compute + lora.rtt_s + t_down, rtol=1e-6)
    radio = lora.a_up_w_per_mbps * up * 8e-6 + lora.base_w * (t_up + t_down)  # tx above Rx while sending, Rx base
    # the uplink's receive windows stay open until the reply starts (compute + RTT later), the reply's for a full 2 s;
    # both tails belong to the request that opened them
    tail_s = min(compute + lora.rtt_s, lora.tail_s) + lora.tail_s
    np.testing.assert_allclose(t["energy_radio_j"], radio + tail_s * lora.tail_w, rtol=1e-5)
    assert world.energy.spent["radio_tail"][0] == pytest.approx(6 * tail_s * lora.tail_w, rel=1e-6)


def test_requests_still_in_flight_at_the_end_are_unfinished_not_instant():
    from sim.recorder import SERVED, UNFINISHED
    from sim.app.summary import summarize

    # NB-IoT replies take seconds: requests that arrive in the last seconds cannot be answered before the end
    sc = _scenario(duration="10min", policy={"name": "edge"},
                   fleet=[{"profile": "mcu-cortex-m4", "count": 20, "link": "nb-iot",
                           "workload": {"kind": "poisson", "rate": "6/min", "deadline": "30s"}}])
    world = World(sc)
    world.run()
    t = world.table()
    unfinished = t["dropped"] == UNFINISHED
    served = t["dropped"] == SERVED
    assert unfinished.sum() >= 1 and np.isnan(t["latency_s"][unfinished]).all()
    # exactly the late arrivals: none of them could have been delivered, all earlier ones were
    slowest = t["latency_s"][served].max()
    assert t["arrival_s"][unfinished].min() > world.duration_s - 2 * slowest
    assert np.isfinite(t["latency_s"][served]).all() and t["latency_s"][served].min() > 0.1
    summary = summarize(t, world.energy.spent, [], "edge", 2, world.duration_s)
    assert summary["unfinished"] == int(unfinished.sum()) and summary["served"] == int(served.sum())
    assert summary["dropped"] == 0


def test_derived_columns_are_what_each_request_was_charged():
    sc = _scenario(duration="10min", policy={"name": "random"},
                   fleet=[{"profile": "raspberry-pi-4", "count": 4, "link": "wifi",
                           "workload": {"kind": "poisson", "rate": "2/s", "deadline": "100ms"}},
                          {"profile": "smartphone", "count": 4, "link": "lte",
                           "workload": {"kind": "poisson", "rate": "2/s", "deadline": "100ms"}}])
    world = World(sc)
    world.run()
    t = world.table()
    assert list(t) == list(REQUEST_COLUMNS)
    local, edge, cloud = (t["target"] == i for i in range(3))
    assert local.sum() > 100 and edge.sum() > 100 and cloud.sum() > 100
    np.testing.assert_array_equal(t["compute_s"][local], np.float32(np.array(world.fleet.local_compute_s)[t["device"][local]]))
    assert (t["compute_s"][edge] == np.float32(world.topology.sites[0].compute_s)).all()
    assert (t["compute_s"][cloud] == np.float32(world.topology.cloud_compute_s)).all()
    rtt = np.array(world.fleet.access_rtt_s)
    np.testing.assert_array_equal(t["propagation_s"][edge], np.float32(rtt[t["device"][edge]]))
    np.testing.assert_array_equal(t["propagation_s"][cloud], np.float32(rtt[t["device"][cloud]] + world.wan_rtt_s))
    assert (t["propagation_s"][local] == 0).all() and (t["bytes_up"][local] == 0).all()
    assert (t["bytes_up"][edge | cloud] == np.float32(world.up_bytes)).all()
    # every served request's latency is the sum of its parts
    served = t["dropped"] == 0
    parts = sum(t[p].astype(np.float64) for p in ("queue_s", "transfer_s", "compute_s", "propagation_s"))
    np.testing.assert_allclose(parts[served], t["latency_s"][served], rtol=1e-5)
    assert world.table() is t  # built once
