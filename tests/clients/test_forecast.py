"""Tests of clients/forecast.py and clients/baselines.py: batched errors, local training, baselines."""
import numpy as np
import pytest
import torch

from clients.baselines import evaluate_reference, naive_reference
from clients.data import DeviceSeries
from clients.forecast import PAD_ROWS_TO, forecast_errors, persistence_errors, predict, train_local
from clients.model import (Forecaster, ModelSpec, build_model, dynamic_quantization_available, get_arrays,
                           quantize_int8, set_arrays)

SPEC = ModelSpec(hidden=16)


@pytest.fixture(scope="module")
def series():
    return DeviceSeries.load(2, start="2013-06-01", history_hours=24 * 70, horizon_hours=24 * 20)


@pytest.fixture(scope="module")
def trained(series):
    """A briefly trained model (60 days of the device's history) and its training result."""
    return train_local(get_arrays(build_model(SPEC, 0)), series, SPEC, until_sim_hour=0, span_hours=24 * 60,
                       epochs=6, lr=5e-3, seed=1)


def test_predict_chunks_equal_one_pass():
    model = build_model(SPEC, 0)
    X = np.random.default_rng(0).normal(size=(100, 24, 1)).astype(np.float32)
    np.testing.assert_allclose(predict(model, X, batch=7), predict(model, X), rtol=1e-5, atol=1e-6)
    assert predict(model, X[:0]).shape == (0,)


def test_forecast_errors_match_per_row_loop_with_one_pass_per_group(series):
    weights = {v: get_arrays(build_model(SPEC, v)) for v in (3, 4)}
    hours = np.array([5, 6, 7, 100, 101, -24 * 70 + 3, 24 * 20 + 5, 300, 5])
    versions = np.array([3, 4, 3, 3, 4, 3, 4, 4, 3])
    quantized = np.array([0, 0, 1, 1, 0, 0, 1, 1, 0], dtype=bool)
    dynamic_quantization_available()  # a one-off probe that runs tiny models; keep it out of the count
    calls = []
    handle = torch.nn.modules.module.register_module_forward_pre_hook(
        lambda module, args: calls.append(len(args[0])) if isinstance(module, Forecaster) else None)
    try:
        errors = forecast_errors(series, SPEC, hours, versions, quantized, weights)
    finally:
        handle.remove()
    # one pass per group (3,fp32) (3,int8) (4,fp32) (4,int8) of 1, 2, 2, 2 valid rows (5 and 6 are not),
    # each padded to PAD_ROWS_TO rows
    assert calls == [PAD_ROWS_TO] * 4
    assert errors.dtype == np.float64 and np.isnan(errors[[5, 6]]).all() and not np.isnan(np.delete(errors, [5, 6])).any()
    for i in np.flatnonzero(~np.isnan(errors)):
        model = build_model(SPEC, 99)
        set_arrays(model, weights[versions[i]])
        if quantized[i]:
            model = quantize_int8(model)
        X, y, valid = series.windows(hours[i:i + 1], SPEC.window)
        with torch.no_grad():
            expected = float(model(torch.from_numpy(X))) - float(y[0])
        assert valid[0] and errors[i] == pytest.approx(expected, abs=1e-5)
    with pytest.raises(KeyError):
        forecast_errors(series, SPEC, hours[:1], np.array([9]), quantized[:1], weights)


def test_persistence_errors(series):
    hours = np.array([0, 1, 50, -24 * 70, 24 * 20])
    e = persistence_errors(series, hours)
    idx = hours[:3] + series.history_hours
    np.testing.assert_allclose(e[:3], series.values[idx - 1].astype(np.float64) - series.values[idx])
    assert np.isnan(e[3:]).all()


def test_train_local_deterministic_and_lowers_loss(series, trained):
    arrays, n, loss = trained
    assert 1000 < n <= 24 * 60
    again = train_local(get_arrays(build_model(SPEC, 0)), series, SPEC, 0, 24 * 60, epochs=6, lr=5e-3, seed=1)
    for a, b in zip(arrays, again[0]):
        np.testing.assert_array_equal(a, b)
    assert again[2] == loss
    # loss of one epoch from the untrained start is higher than after training
    _, _, first_epoch_loss = train_local(get_arrays(build_model(SPEC, 0)), series, SPEC, 0, 24 * 60, epochs=1,
                                         lr=5e-3, seed=1)
    assert loss < first_epoch_loss
    other = train_local(get_arrays(build_model(SPEC, 0)), series, SPEC, 0, 24 * 60, epochs=6, lr=5e-3, seed=2)
    assert not np.array_equal(other[0][0], arrays[0])


def test_train_local_without_windows_returns_input(series):
    start = get_arrays(build_model(SPEC, 0))
    arrays, n, loss = train_local(start, series, SPEC, until_sim_hour=-24 * 70, span_hours=48, epochs=3, lr=1e-3)
    assert n == 0 and np.isnan(loss)
    for a, b in zip(start, arrays):
        np.testing.assert_array_equal(a, b)


def test_proximal_term_keeps_update_closer_to_start(series):
    start = get_arrays(build_model(SPEC, 0))
    free, _, _ = train_local(start, series, SPEC, 0, 24 * 14, epochs=2, lr=1e-2, seed=0)
    prox, _, _ = train_local(start, series, SPEC, 0, 24 * 14, epochs=2, lr=1e-2, proximal_mu=10.0, seed=0)
    dist = lambda arrays: sum(float(np.sum((a - s) ** 2)) for a, s in zip(arrays, start))  # noqa: E731
    assert dist(prox) < dist(free)


def test_short_local_training_beats_persistence_on_held_out_hours(series, trained):
    hours = np.arange(0, 24 * 14)  # after the training span: never seen
    errors = forecast_errors(series, SPEC, hours, np.zeros(len(hours), int), np.zeros(len(hours), bool),
                             {0: trained[0]})
    baseline = persistence_errors(series, hours)
    ok = ~np.isnan(errors) & ~np.isnan(baseline)
    assert ok.sum() > 300
    assert np.mean(errors[ok] ** 2) < 0.9 * np.mean(baseline[ok] ** 2)


def test_quantized_predictions_close_to_fp32(series, trained):
    hours = np.arange(0, 24 * 14)
    n = len(hours)
    fp32 = forecast_errors(series, SPEC, hours, np.zeros(n, int), np.zeros(n, bool), {0: trained[0]})
    int8 = forecast_errors(series, SPEC, hours, np.zeros(n, int), np.ones(n, bool), {0: trained[0]})
    ok = ~np.isnan(fp32)
    mse32, mse8 = np.mean(fp32[ok] ** 2), np.mean(int8[ok] ** 2)
    assert abs(mse8 - mse32) / mse32 < 0.05
    assert not np.array_equal(fp32[ok], int8[ok])  # it really is a different (int8) model


def test_reference_persistence_reproduces_data_readme():
    naive = naive_reference()
    assert naive["persistence"]["mse"] == pytest.approx(1.221, abs=0.01)
    assert naive["persistence"]["mae"] == pytest.approx(0.560, abs=0.005)
    assert naive["yesterday"]["mse"] == pytest.approx(1.355, abs=0.01)
    assert naive["yesterday"]["mae"] == pytest.approx(0.592, abs=0.005)


@pytest.mark.slow
def test_central_lstm_beats_naive_baselines():
    result = evaluate_reference(hidden=32, epochs=10, verbose=False)
    assert result["lstm_h32"]["mse"] < 0.8 < result["persistence"]["mse"]


def test_reference_calendar_inputs_match_device_series_windows():
    from clients.baselines import ReferenceSplit, reference_inputs, reference_splits
    series = DeviceSeries.load(0, start="2013-06-01", history_hours=48, horizon_hours=200)
    hours = np.array([0, 5, 30, 131])
    X, _, valid = series.windows(hours, 24, calendar=True)
    assert valid.all()
    absolute = series.t0.astype(np.int64) + hours  # hours since 1970 of each target
    split = ReferenceSplit(X[:, :, 0], np.zeros(len(hours), np.float32), absolute)
    np.testing.assert_array_equal(reference_inputs(split, calendar=True), X)
    np.testing.assert_array_equal(reference_inputs(split), X[:, :, :1])
    with pytest.raises(ValueError):
        reference_inputs(ReferenceSplit(split.X, split.y), calendar=True)
    test = reference_splits()["test"]  # test targets start at hour 0.8 * 8760 of 2013 (after 70% train, 10% val)
    assert test.target_hours.min() == np.datetime64("2013-01-01T00", "h").astype(np.int64) + int(0.7 * 8760) + int(0.1 * 8760)
    assert len(test.target_hours) == len(test.y)
