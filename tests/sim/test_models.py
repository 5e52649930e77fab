"""Which model answers a request: the edge model on the device, the larger cloud model on the servers,
a device's personal copy; what each costs and how each is scored."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from clients.device import DeviceSettings, score_requests
from clients.forecast import predict
from clients.model import (CLOUD_MODEL, EDGE_MODEL, PERSONAL_MODEL, ModelSpec, build_model, get_arrays,
                           model_cost, quantize_int8, set_arrays)
from sim import scenario as scenarios
from sim.forecasts import SCORE_KEYS_PER_CALL, device_config, forecast_codes, requests_of, score, score_codes, score_versions
from sim.policies import CLOUD, EDGE, LOCAL
from sim.recorder import SERVED
from sim.world import REQUEST_OVERHEAD_BYTES, World

EDGE_SPEC = {"hidden": 8, "layers": 1, "window": 24}
CLOUD_SPEC = {"hidden": 48, "layers": 2, "window": 36}


def _scenario(cloud: dict | None = CLOUD_SPEC, policy: dict | None = None, **federation) -> scenarios.Scenario:
    return scenarios.parse({
        "name": "models", "seed": 4, "duration": "20min",
        "policy": policy or {"name": "random", "params": {"p_local": 0.4, "p_edge": 0.3, "p_cloud": 0.3}},
        "fleet": [{"profile": "raspberry-pi-4", "count": 4, "link": "wifi",
                   "workload": {"kind": "poisson", "rate": "6/min", "deadline": "1s"}}],
        "models": {"edge": EDGE_SPEC, **({"cloud": cloud} if cloud else {})},
        "federation": {"enabled": False, "pretrain": {"rounds": 1}, **federation}}, "models")


def test_servers_pay_the_cloud_models_flops_and_requests_carry_its_window():
    world = World(_scenario())
    world.run()
    t = world.table()
    cloud_cost = model_cost(ModelSpec(**CLOUD_SPEC))
    edge_cost = model_cost(ModelSpec(**EDGE_SPEC))
    assert cloud_cost.flops_per_inference > 20 * edge_cost.flops_per_inference
    local, edge, cloud = (t["target"] == LOCAL), (t["target"] == EDGE), (t["target"] == CLOUD)
    assert local.sum() > 20 and edge.sum() > 20 and cloud.sum() > 20
    sc = world.scenario
    np.testing.assert_allclose(t["compute_s"][edge], cloud_cost.flops_per_inference / sc.edge.speed, rtol=1e-6)
    np.testing.assert_allclose(t["compute_s"][cloud], cloud_cost.flops_per_inference / sc.cloud.speed, rtol=1e-6)
    pi = sc.device_profile("raspberry-pi-4")
    np.testing.assert_allclose(t["compute_s"][local], edge_cost.flops_per_inference / pi.lstm_flops_per_s, rtol=1e-6)
    np.testing.assert_allclose(t["bytes_up"][edge | cloud], cloud_cost.input_bytes + REQUEST_OVERHEAD_BYTES)
    assert cloud_cost.input_bytes == 36 * 4  # one float32 per hour of the cloud model's 36-hour window
    assert set(t["model"][local]) == {EDGE_MODEL} and set(t["model"][edge | cloud]) == {CLOUD_MODEL}


def test_without_a_cloud_model_the_servers_serve_the_global_edge_model():
    world = World(_scenario(cloud=None))
    world.publish(3, [])
    world.run()
    t = world.table()
    offloaded = t["target"] != LOCAL
    assert set(t["model"]) == {EDGE_MODEL}
    assert set(t["model_version"][offloaded]) == {3}  # the servers' newest version; devices still have 0
    assert set(t["model_version"][~offloaded]) == {0}
    edge_cost = model_cost(ModelSpec(**EDGE_SPEC))
    np.testing.assert_allclose(t["bytes_up"][offloaded], edge_cost.input_bytes + REQUEST_OVERHEAD_BYTES)


def test_a_cloud_model_needs_pretraining_one_line_error():
    with pytest.raises(scenarios.ScenarioError) as err:
        scenarios.parse({"name": "x", "duration": "1h", "models": {"cloud": CLOUD_SPEC},
                         "fleet": [{"profile": "raspberry-pi-4", "count": 1, "link": "wifi",
                                    "workload": {"kind": "poisson", "rate": "1/s", "deadline": "1s"}}],
                         "federation": {"pretrain": {"rounds": 0}}}, "bad.yaml")
    message = str(err.value)
    assert "\n" not in message and "bad.yaml" in message and "models.cloud" in message
    assert "federation.pretrain.rounds" in message


def test_a_device_serves_local_requests_with_its_personal_copy_once_installed():
    world = World(_scenario(cloud=None, policy={"name": "local"}))
    world.env.timeout(300.0).callbacks.append(lambda _: world.install_personal(2, 5))
    world.run()
    t = world.table()
    later = t["arrival_s"] > 300.0
    mine = t["device"] == 2
    assert set(t["model"][mine & later]) == {PERSONAL_MODEL} and set(t["model_version"][mine & later]) == {5}
    assert set(t["model"][~(mine & later)]) == {EDGE_MODEL}
    world.install_personal(2, 3)  # an older round never replaces a newer copy
    assert world.fleet.personal_version[2] == 5


def _forecasts(hours, model, version, quantized=0):
    n = len(hours)
    return {"hour": np.asarray(hours), "model": np.full(n, model), "version": np.full(n, version),
            "quantized": np.full(n, quantized)}


def test_each_model_is_scored_with_its_own_architecture():
    torch.set_num_threads(1)
    settings = DeviceSettings.from_config(device_config(_scenario()))
    edge, cloud = ModelSpec(**EDGE_SPEC), ModelSpec(**CLOUD_SPEC)
    assert settings.specs == {EDGE_MODEL: edge, CLOUD_MODEL: cloud, PERSONAL_MODEL: edge}
    edge_w, cloud_w = get_arrays(build_model(edge, 1)), get_arrays(build_model(cloud, 2))
    personal_w = [a + 0.05 for a in edge_w]
    hours = np.arange(5, 15)
    forecasts = {k: np.concatenate([_forecasts(hours, CLOUD_MODEL, 0)[k], _forecasts(hours, EDGE_MODEL, 0, 1)[k],
                                    _forecasts(hours, PERSONAL_MODEL, 2)[k]]) for k in ("hour", "model", "version",
                                                                                        "quantized")}
    errors, baseline = score_requests(settings, 1, forecasts,
                                      {(EDGE_MODEL, 0): edge_w, (CLOUD_MODEL, 0): cloud_w,
                                       (PERSONAL_MODEL, 2): personal_w})
    series = settings.series(1)
    for spec, weights, int8, block in ((cloud, cloud_w, False, 0), (edge, edge_w, True, 1),
                                       (edge, personal_w, False, 2)):
        X, y, valid = series.windows(hours, spec.window, spec.calendar)
        assert valid.all()
        model = build_model(spec, 0)
        set_arrays(model, weights)
        if int8:
            model = quantize_int8(model)
        np.testing.assert_allclose(errors[block * 10:(block + 1) * 10], predict(model, X) - y, atol=1e-6)
    np.testing.assert_array_equal(baseline[:10], baseline[10:20])


def test_held_out_scores_cover_every_shared_model_and_the_personal_copies():
    calls = []

    def evaluate(requests, weights):  # error = model code + version / 10, persistence error = 1
        calls.append(requests)
        return {dev: (cols["model"] + cols["version"] / 10.0, np.ones(len(cols["hour"])))
                for dev, cols in requests.items()}

    weights = {(EDGE_MODEL, 0): [], (EDGE_MODEL, 1): [], (CLOUD_MODEL, 0): []}
    rows = score_versions(evaluate, 3, weights, first_hour=10, personal=[-1, 4, 2])
    assert [(r["model"], r["model_version"], r["devices"]) for r in rows] == [
        ("edge", 0, 3), ("edge", 1, 3), ("cloud", 0, 3), ("personal", -1, 2)]
    assert [r["mse"] for r in rows[:3]] == pytest.approx([0.0, 0.01, 1.0])
    assert rows[3]["mse"] == pytest.approx(np.mean([(2 + 0.4) ** 2, (2 + 0.2) ** 2]))
    assert rows[0]["forecasts"] == 3 * 48 and rows[3]["forecasts"] == 2 * 48
    assert len(calls[0][0]["hour"]) == 3 * 48  # device 0 has no personal copy


def test_requests_are_keyed_by_model_so_a_personal_and_a_global_forecast_never_merge():
    table = {"dropped": np.full(4, SERVED, np.int8), "device": np.zeros(4, np.int32),
             "hour": np.array([1, 1, 1, 1]), "model": np.array([EDGE_MODEL, PERSONAL_MODEL, PERSONAL_MODEL, CLOUD_MODEL]),
             "model_version": np.array([2, 2, 2, 0]), "target": np.array([LOCAL, LOCAL, LOCAL, EDGE])}
    rows, codes = forecast_codes(table, True)
    keys, at = np.unique(codes, return_inverse=True)
    cols = requests_of(keys)[0]
    assert len(cols["hour"]) == 3
    assert list(at) == [0, 2, 2, 1]  # sorted keys: (1,0,2,1), (1,1,0,0), (1,2,2,1)
    assert list(cols["quantized"]) == [1, 0, 1]
    assert list(cols["model"]) == [EDGE_MODEL, CLOUD_MODEL, PERSONAL_MODEL] and list(cols["version"]) == [2, 0, 2]


def test_forecast_codes_order_devices_then_their_keys_and_decode_back():
    rng = np.random.default_rng(5)
    n = 2000
    table = {"dropped": rng.choice([SERVED, 1], n, p=[0.9, 0.1]).astype(np.int8),
             "device": rng.integers(0, 300, n).astype(np.int32), "hour": rng.integers(0, 9000, n).astype(np.int32),
             "model": rng.integers(0, 3, n).astype(np.int8), "model_version": rng.integers(-1, 500, n).astype(np.int16),
             "target": rng.integers(0, 3, n).astype(np.int8)}
    rows, codes = forecast_codes(table, True)
    assert list(rows) == list(np.flatnonzero(table["dropped"] == SERVED))
    keys = np.unique(codes)
    decoded = requests_of(keys)
    expected = {}  # each device's distinct (hour, model, version, quantized), sorted as np.unique sorts them
    for r in rows:
        key = (int(table["hour"][r]), int(table["model"][r]), int(table["model_version"][r]),
               int(table["target"][r] == LOCAL))
        expected.setdefault(int(table["device"][r]), set()).add(key)
    assert list(decoded) == sorted(expected)
    for dev, cols in decoded.items():
        assert list(zip(*(cols[k].tolist() for k in ("hour", "model", "version", "quantized")))) == sorted(expected[dev])
    with pytest.raises(ValueError, match="hour"):
        forecast_codes({**table, "hour": table["hour"] + 70_000}, True)


def test_scoring_in_slices_of_devices_gives_the_same_errors_as_one_call():
    calls = []

    def evaluate(requests, weights):  # a fake device scorer: an error that names its key, one device missing
        calls.append(sorted(requests))
        return {dev: (cols["hour"] * 10.0 + cols["version"], -cols["hour"].astype(float))
                for dev, cols in requests.items() if dev != 7}

    rng = np.random.default_rng(1)
    n = 5000
    table = {"dropped": np.zeros(n, np.int8), "device": rng.integers(0, 40, n).astype(np.int32),
             "hour": rng.integers(0, 50, n).astype(np.int32), "model": np.zeros(n, np.int8),
             "model_version": rng.integers(0, 3, n).astype(np.int16), "target": np.zeros(n, np.int8),
             "forecast_error": np.zeros(n, np.float32), "baseline_error": np.zeros(n, np.float32)}
    score(table, False, evaluate, {})
    assert len(calls) == 1 and SCORE_KEYS_PER_CALL > n
    want = np.where(table["device"] == 7, np.nan, table["hour"] * 10.0 + table["model_version"])
    np.testing.assert_array_equal(table["forecast_error"], want.astype(np.float32))
    keys = np.unique(forecast_codes(table, False)[1])
    whole = score_codes(keys, evaluate, {})
    calls.clear()
    sliced = score_codes(keys, evaluate, {}, keys_per_call=37)
    assert len(calls) > 10 and all(not set(a) & set(b) for a, b in zip(calls, calls[1:]))  # whole devices per call
    for a, b in zip(whole, sliced):
        np.testing.assert_array_equal(a, b)


def test_scoring_a_fleet_at_once_matches_scoring_each_device_alone():
    torch.set_num_threads(1)
    from clients.device import score_fleet

    settings = DeviceSettings.from_config(device_config(_scenario()))
    weights = {(EDGE_MODEL, 0): get_arrays(build_model(ModelSpec(**EDGE_SPEC), 1)),
               (EDGE_MODEL, 1): get_arrays(build_model(ModelSpec(**EDGE_SPEC), 2)),
               (CLOUD_MODEL, 0): get_arrays(build_model(ModelSpec(**CLOUD_SPEC), 3))}
    rng = np.random.default_rng(0)
    requests = {}
    for dev in (0, 3, 7):
        n = 40
        requests[dev] = {"hour": rng.integers(-5, 30, n), "model": rng.choice([EDGE_MODEL, CLOUD_MODEL], n),
                         "version": np.zeros(n, np.int64), "quantized": rng.integers(0, 2, n)}
        edge = requests[dev]["model"] == EDGE_MODEL
        requests[dev]["version"][edge] = rng.integers(0, 2, edge.sum())
        requests[dev]["quantized"][~edge] = 0
    together = score_fleet(settings, requests, weights)
    for dev, cols in requests.items():
        alone = score_requests(settings, dev, cols, weights)
        np.testing.assert_array_equal(together[dev][0], alone[0])  # a forecast's bits do not depend on its pass
        np.testing.assert_array_equal(together[dev][1], alone[1])
        assert np.isfinite(alone[0]).sum() > 30


def test_held_out_scores_are_the_same_whatever_the_slice_of_devices_per_call():
    from clients.device import score_fleet

    spec = ModelSpec(hidden=8)
    config = {"edge-cell": "lstm", "edge-hidden": 8, "edge-layers": 1, "edge-window": 24, "edge-calendar": False,
              "data-start": "2013-06-03", "history-hours": 48, "horizon-hours": 100, "seed": 0}
    settings, calls = DeviceSettings.from_config(config), []

    def counting(requests, weights):
        calls.append(sorted(requests))
        return score_fleet(settings, requests, weights)

    weights = {(EDGE_MODEL, v): get_arrays(build_model(spec, v)) for v in range(3)}
    whole = score_versions(counting, 7, weights, first_hour=5)
    assert calls == [list(range(7))]
    calls.clear()
    sliced = score_versions(counting, 7, weights, first_hour=5, keys_per_call=2 * 48 * 4)  # 2 devices a call
    assert calls == [[0, 1], [2, 3], [4, 5], [6]]
    assert sliced == whole and all(r["devices"] == 7 and r["forecasts"] > 0 for r in whole)
