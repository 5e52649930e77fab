"""Validation and test windows: settings are chosen on the hours right before the test hours, never on them."""
from __future__ import annotations

import numpy as np
import pytest

from clients.data import DeviceSeries, evaluation_windows, validation_start
from clients.device import DeviceSettings
from sim import scenario as scenarios
from sim.forecasts import HELD_OUT_HOURS, device_config


def test_the_validation_window_is_the_48_hours_right_before_the_test_window():
    windows = evaluation_windows("2013-09-02", 12, 48)
    assert windows["test"] == (np.datetime64("2013-09-02T12"), np.datetime64("2013-09-04T12"))
    assert windows["validation"] == (np.datetime64("2013-08-31T12"), np.datetime64("2013-09-02T12"))
    assert validation_start("2013-09-02", 48) == "2013-08-31"
    assert validation_start("2013-03-01", 72) == "2013-02-26"


@pytest.mark.parametrize("hours", [0, -24, 36])
def test_held_out_hours_that_are_not_whole_days_are_refused(hours):
    with pytest.raises(ValueError, match="multiple of 24"):
        validation_start("2013-09-02", hours)


def _validation_twin(path: str) -> tuple[scenarios.Scenario, scenarios.Scenario]:
    test = scenarios.load(path)
    data = test.data.model_copy(update={"start": validation_start(test.data.start, HELD_OUT_HOURS)})
    return test, test.model_copy(update={"data": data})


def test_a_validation_runs_streams_stop_where_the_test_window_begins():
    test, validation = _validation_twin("scenarios/hierarchical-fl.yaml")
    run_hours = int(test.duration // 3600)
    windows = evaluation_windows(test.data.start, run_hours, HELD_OUT_HOURS)
    settings = DeviceSettings.from_config(device_config(validation))
    series = settings.series(0)
    last_hour = series.t0 - series.history_hours + len(series.values) - 1  # calendar hour of the last value held
    assert last_hour == windows["test"][0] - np.timedelta64(1, "h")
    # the validation run's held-out hours (score_versions from sim hour run_hours) are the validation window
    assert series.t0 + run_hours == windows["validation"][0]
    assert series.t0 + run_hours + HELD_OUT_HOURS == windows["validation"][1]


def test_poisoned_test_hours_leave_the_validation_stream_unchanged():
    first = np.datetime64("2013-06-01T00")
    hours = 24 * 200
    rng = np.random.default_rng(3)
    clean = 1.0 + 0.3 * np.sin(2 * np.pi * np.arange(hours) / 24) + 0.05 * rng.standard_normal(hours)
    windows = evaluation_windows("2013-09-02", 12, 48)
    test_from = int((windows["test"][0] - first).astype(np.int64))
    poisoned = clean.copy()
    poisoned[test_from:] = 1e6
    start = np.datetime64(validation_start("2013-09-02", 48), "h")
    a = DeviceSeries.from_hourly(0, "x", first, clean, start, 24 * 30, 12 + 48)
    b = DeviceSeries.from_hourly(0, "x", first, poisoned, start, 24 * 30, 12 + 48)
    np.testing.assert_array_equal(a.values, b.values)
    x, y, valid = b.windows(np.arange(12, 12 + 48), 24)
    assert valid.all() and np.abs(y).max() < 10  # every validation target is a real, unpoisoned hour
