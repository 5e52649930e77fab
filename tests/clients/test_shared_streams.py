"""Devices that read the same stream share their windows: score_fleet forecasts each (stream, hour) window once
for all of them, and the slicing callers (sim.forecasts) ask such devices together. Same bits as alone."""
import numpy as np
import pytest
import torch

from clients.device import DeviceSettings, score_fleet, score_requests
from clients.model import EDGE_MODEL, Forecaster, ModelSpec, build_model, get_arrays
from sim.app.runner import InProcessScorer
from sim.forecasts import CODE_FIELDS, score_codes, score_versions

CONFIG = {"edge-cell": "lstm", "edge-hidden": 8, "edge-layers": 1, "edge-window": 24, "edge-calendar": False,
          "data-start": "2013-06-03", "history-hours": 24 * 365, "horizon-hours": 100, "seed": 0}
SPEC = ModelSpec(hidden=8)


@pytest.fixture(scope="module")
def fleet():
    """Settings, and 12 devices: three streams read by 3 devices each, and 3 devices with a stream of their own."""
    torch.set_num_threads(1)
    settings = DeviceSettings.from_config(CONFIG)
    candidates = np.arange(1200)  # a year of history leaves few week shifts: 1,200 devices read 305 streams
    groups = settings.stream_groups(candidates)
    ids, counts = np.unique(groups, return_counts=True)
    shared = [candidates[groups == g][:3] for g in ids[counts >= 3][:3]]
    alone = [candidates[groups == g] for g in ids[counts == 1][:3]]
    devices = sorted(int(d) for d in np.concatenate(shared + alone))
    assert len(shared) == 3 and len(devices) == 12
    for a in shared:  # they really read the same values
        assert all(np.array_equal(settings.series(int(a[0])).values, settings.series(int(d)).values, equal_nan=True)
                   for d in a)
    return settings, devices


def _requests(devices, rng):
    requests = {}
    for dev in devices:
        n = 30
        requests[dev] = {"hour": rng.integers(-3, 40, n), "model": np.full(n, EDGE_MODEL),
                         "version": rng.integers(0, 2, n), "quantized": rng.integers(0, 2, n)}
    return requests


def _forecast_rows(run) -> tuple[object, int]:
    """run()'s result and how many windows its forward passes took."""
    rows = []
    handle = torch.nn.modules.module.register_module_forward_pre_hook(
        lambda module, args: rows.append(len(args[0])) if isinstance(module, Forecaster) else None)
    try:
        return run(), sum(rows)
    finally:
        handle.remove()


def test_a_shared_window_is_forecast_once_with_the_bits_each_device_gets_alone(fleet):
    settings, devices = fleet
    weights = {(EDGE_MODEL, v): get_arrays(build_model(SPEC, v + 1)) for v in range(2)}
    requests = _requests(devices, np.random.default_rng(0))
    together, forecast_together = _forecast_rows(lambda: score_fleet(settings, requests, weights))
    alone, forecast_alone = _forecast_rows(
        lambda: {dev: score_requests(settings, dev, cols, weights) for dev, cols in requests.items()})
    for dev in devices:
        np.testing.assert_array_equal(together[dev][0], alone[dev][0])
        np.testing.assert_array_equal(together[dev][1], alone[dev][1])
        assert np.isfinite(together[dev][0]).sum() > 20
    # 12 devices of 6 streams, 4 (version, int8) groups: far fewer windows than one a device
    assert forecast_together < 0.75 * forecast_alone


def test_slicing_callers_ask_a_streams_devices_together_and_get_the_same_rows(fleet):
    settings, devices = fleet
    scorer = InProcessScorer(settings)
    plain = lambda requests, weights: score_fleet(settings, requests, weights)  # noqa: E731 (no stream_groups)
    weights = {(EDGE_MODEL, v): get_arrays(build_model(SPEC, v + 1)) for v in range(2)}
    # 400 devices read 245 streams (155 of them by two devices far apart); 8 devices a call
    keys_per_call = 8 * 48 * 3
    grouped, grouped_rows = _forecast_rows(lambda: score_versions(scorer, 400, weights, 5, keys_per_call=keys_per_call))
    alone, alone_rows = _forecast_rows(lambda: score_versions(plain, 400, weights, 5, keys_per_call=keys_per_call))
    assert grouped == alone == score_versions(plain, 400, weights, 5)  # one call
    assert all(row["devices"] == 400 and row["forecasts"] > 0 for row in grouped)
    assert grouped_rows < 0.7 * alone_rows
    # score_codes: the same errors in stream-grouped slices as in one call, with fewer windows forecast
    codes = []
    for dev in devices:  # each device asks hours 0-23 of version 0 in fp32 (codes hold hours >= 0)
        code = np.full(24, dev, np.int64)
        for name, bits, offset in CODE_FIELDS:
            code = (code << bits) | ((np.arange(24) if name == "hour" else np.zeros(24, np.int64)) + offset)
        codes.append(code)
    codes = np.unique(np.concatenate(codes))
    whole, whole_rows = _forecast_rows(lambda: score_codes(codes, plain, weights))
    for evaluate in (scorer, plain):
        sliced, rows = _forecast_rows(lambda: score_codes(codes, evaluate, weights, keys_per_call=3 * 24))
        for a, b in zip(whole, sliced):
            np.testing.assert_array_equal(a, b)
        if evaluate is scorer:
            grouped_rows = rows
    assert grouped_rows < 0.7 * rows  # three devices a call: one stream, or (plain) three
