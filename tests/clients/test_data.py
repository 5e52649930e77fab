"""Tests of clients/data.py: household choice, reuse, gap handling, causal windows, history-only statistics."""
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from clients.data import (DATASET_PATH, DeviceSeries, _household_raw, copies_with_history, eligible_households,
                          household_for,
                          interpolate_short_gaps)


def test_dataset_ships_with_package():
    assert DATASET_PATH.is_file() and DATASET_PATH.name == "sgsc_households_hourly.csv.gz"


def test_eligible_households_calendar_2013():
    households = eligible_households()
    assert len(households) == 40
    assert households == sorted(households)
    assert eligible_households() is households  # cached
    assert len(eligible_households(0.05)) >= 40


def test_household_reuse_beyond_fleet_of_n():
    n = len(eligible_households())
    assert household_for(3) == (eligible_households()[3], 1.0, 0)
    column, scale, copy = household_for(n + 3)
    assert column == eligible_households()[3] and copy == 1 and scale == pytest.approx(1.05)
    assert household_for(2 * n)[1:] == (pytest.approx(1.10), 2)
    assert household_for(3 * n)[1] == pytest.approx(0.90)
    with pytest.raises(ValueError):
        household_for(-1)


def test_reused_partition_is_the_same_meter_shifted_back_in_time():
    n = len(eligible_households())
    original, copy = DeviceSeries.load(5), DeviceSeries.load(n + 5)
    assert copy.column == original.column
    # copy's hour t is the original's hour t - 168; z-scores use each device's own history
    kwh_original = original.values.astype(np.float64) * original.std + original.mean
    kwh_copy = (copy.values.astype(np.float64) * copy.std + copy.mean) / 1.05
    np.testing.assert_allclose(kwh_copy[168:], kwh_original[:-168], rtol=1e-4, atol=1e-5, equal_nan=True)
    assert not np.allclose(copy.values[168:500], copy.values[:332], equal_nan=True)
    np.testing.assert_array_equal(copy.hour_of_day, original.hour_of_day)
    np.testing.assert_array_equal(copy.day_of_week, original.day_of_week)


def test_load_shape_calendar_and_zscore():
    s = DeviceSeries.load(0, start="2013-06-01", history_hours=240, horizon_hours=48)
    assert s.values.dtype == np.float32 and s.values.shape == (288,)
    assert s.t0 == np.datetime64("2013-06-01T00", "h")
    assert s.hour_of_day[240] == 0 and s.day_of_week[240] == 5  # 2013-06-01 was a Saturday (Monday = 0)
    assert s.hour_of_day[239] == 23
    history = s.values[:240].astype(np.float64)
    assert abs(np.nanmean(history)) < 1e-3 and abs(np.nanstd(history) - 1) < 1e-2
    first, raw = _household_raw(s.column)
    begin = int((s.t0 - 240 - first).astype(np.int64))
    np.testing.assert_allclose(s.values * s.std + s.mean, raw[begin:begin + 288], rtol=1e-4, atol=1e-5)


def _synthetic(raw, history=100, horizon=50):
    first = np.datetime64("2020-01-01T00", "h")
    return DeviceSeries.from_hourly(0, "hsyn", first, raw, first + 200, history, horizon)


def test_zscore_statistics_use_only_history_before_t0():
    rng = np.random.default_rng(0)
    raw = rng.gamma(2.0, 0.3, size=400)
    a = _synthetic(raw)
    changed = raw.copy()
    changed[200:] = rng.gamma(5.0, 3.0, size=200)  # a different future from t0 on
    b = _synthetic(changed)
    assert (a.mean, a.std) == (b.mean, b.std)
    assert a.mean == pytest.approx(raw[100:200].mean()) and a.std == pytest.approx(raw[100:200].std())
    np.testing.assert_array_equal(a.values[:100], b.values[:100])
    assert not np.array_equal(a.values[100:], b.values[100:])


def test_short_gap_interpolated_long_gap_masked():
    raw = np.arange(400, dtype=np.float64) % 24 + 1.0
    raw[210:212] = np.nan   # 2 hours: interpolated
    raw[230:233] = np.nan   # 3 hours: masked
    s = _synthetic(raw, horizon=100)
    kwh = s.values.astype(np.float64) * s.std + s.mean
    np.testing.assert_allclose(kwh[110:112], [raw[209] + (raw[212] - raw[209]) / 3 * k for k in (1, 2)], rtol=1e-5)
    assert np.isnan(s.values[130:133]).all() and not np.isnan(s.values[:130]).any()
    _, _, valid = s.windows(np.array([11, 12, 29, 30, 31, 33, 36, 56, 57]), window=24)
    # sim hour h reads hours h-24..h-1 and h; masked sim hours are 30, 31, 32
    assert valid.tolist() == [True, True, True, False, False, False, False, False, True]


def test_interpolate_short_gaps_edges_stay_missing():
    out = interpolate_short_gaps(np.array([np.nan, 1.0, np.nan, 3.0, np.nan]))
    assert np.isnan(out[0]) and out[2] == 2.0 and np.isnan(out[4])


SERIES = _synthetic(np.sin(np.arange(400) / 5.0) + 2.0 + np.arange(400) * 1e-3, history=100, horizon=100)


@settings(max_examples=60, deadline=None)
@given(hours=st.lists(st.integers(-150, 150), min_size=1, max_size=20), window=st.integers(1, 30),
       calendar=st.booleans(), poison=st.integers(-100, 99))
def test_windows_never_read_at_or_after_target(hours, window, calendar, poison):
    """Changing values at or after hour `poison` never changes a window whose target is at or before it."""
    hours = np.array(hours)
    X, y, valid = SERIES.windows(hours, window, calendar)
    F = 5 if calendar else 1
    assert X.shape == (len(hours), window, F) and X.dtype == np.float32 and y.shape == valid.shape == (len(hours),)
    idx = hours + SERIES.history_hours
    assert (valid == ((idx - window >= 0) & (idx < len(SERIES.values)))).all()
    values = SERIES.values.copy()
    values[SERIES.history_hours + poison:] = 1e6
    tampered = DeviceSeries(0, "hsyn", SERIES.t0, values, SERIES.history_hours, SERIES.mean, SERIES.std,
                            SERIES.hour_of_day, SERIES.day_of_week)
    X2, y2, valid2 = tampered.windows(hours, window, calendar)
    before = hours <= poison
    np.testing.assert_array_equal(X2[before], X[before])
    np.testing.assert_array_equal(valid2[before], valid[before])
    expected = values[np.clip(idx, 0, len(values) - 1)]
    np.testing.assert_array_equal(X[valid, -1, 0], SERIES.values[idx[valid] - 1])
    np.testing.assert_array_equal(y2[valid2], expected[valid2])
    assert (X[~valid] == 0).all() and (y[~valid] == 0).all()


def test_training_windows_stop_strictly_before_until():
    X, y = SERIES.training_windows(until_sim_hour=40, span_hours=30, window=24)
    assert len(y) == 30
    np.testing.assert_array_equal(y, SERIES.values[SERIES.history_hours + np.arange(10, 40)])
    X, y = SERIES.training_windows(until_sim_hour=-60, span_hours=30, window=24)  # reaches before the data
    assert len(y) == 16 and X.shape == (16, 24, 1)
    X, y = SERIES.training_windows(until_sim_hour=-90, span_hours=30, window=24)
    assert len(y) == 0 and X.shape == (0, 24, 1)


def _app_package_copy(tmp_path):
    """clients/ as a Flower app package carries it to a SuperNode: the .py files only, no household data."""
    import shutil

    root = DATASET_PATH.parents[2]
    app = tmp_path / "fab"
    shutil.copytree(root / "clients", app / "clients", ignore=lambda d, names: [
        n for n in names if not (n.endswith(".py") or (Path(d) / n).is_dir()) or n in ("__pycache__", "datasets")])
    return app


def _dataset_path_in(app, **env):
    import os
    import subprocess
    import sys

    code = "from clients.data import dataset_path\ntry:\n    print(dataset_path())\nexcept FileNotFoundError as e:\n" \
           "    print('missing:', e)"
    environment = {k: v for k, v in os.environ.items() if k != "EDGEFED_DATA"} | {"PYTHONPATH": str(app), **env}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=app, env=environment,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_device_running_the_app_package_reads_the_installed_data(tmp_path):
    app = _app_package_copy(tmp_path)
    assert not (app / "clients" / "datasets").exists()
    found = Path(_dataset_path_in(app))
    assert found.name == "sgsc_households_hourly.csv.gz" and found.is_file()
    assert found.read_bytes()[:64] == DATASET_PATH.read_bytes()[:64]


def test_a_missing_data_file_is_one_clear_line(tmp_path):
    app = _app_package_copy(tmp_path)
    said = _dataset_path_in(app, EDGEFED_DATA=str(tmp_path / "nope.csv.gz"))
    assert said == f"missing: EDGEFED_DATA={tmp_path / 'nope.csv.gz'}: no such file (it must name " \
                   "sgsc_households_hourly.csv.gz)"


def test_every_copy_of_a_large_fleet_has_a_real_history_and_copies_wrap_after_w_weeks():
    n = len(eligible_households())
    first, raw = _household_raw(eligible_households()[7])
    start, history = "2013-06-03", 24 * 120
    w = copies_with_history(first, raw, np.datetime64(start, "h"), history)
    # household 7's first metered hour to 2013-02-03T00 (the history's first hour), in whole weeks, plus shift 0
    metered = first + int(np.flatnonzero(np.isfinite(raw))[0])
    assert w == int((np.datetime64("2013-02-03T00") - metered).astype(int)) // 168 + 1 and 10 < w < 60
    assert copies_with_history(metered, raw[np.isfinite(raw).argmax():], metered + history, history) == 1
    for copy in (w - 1, w, 2499):  # a 100,000-device fleet has copies up to 2,499
        series = DeviceSeries.load(copy * n + 7, start=start, history_hours=history, horizon_hours=72)
        assert np.isnan(series.values[:history]).mean() < 0.02, copy
    wrapped, base = (DeviceSeries.load(k * n + 7, start=start, history_hours=history, horizon_hours=72)
                     for k in (w + 3, 3))
    np.testing.assert_array_equal(wrapped.values, base.values)  # the same shifted meter, z-scored alike
    assert wrapped.std == pytest.approx(base.std * household_for((w + 3) * n)[1] / household_for(3 * n)[1], rel=1e-4)
