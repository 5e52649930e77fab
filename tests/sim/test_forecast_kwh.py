"""Forecast errors in kWh per hour: z-scored errors times each household's own standard deviation."""
from __future__ import annotations

import math

import numpy as np

from clients.data import DeviceSeries
from clients.forecast import persistence_errors
from sim.app.summary import kwh_errors, local_inference


def test_kwh_errors_against_a_hand_computation():
    # devices 0 and 1 with std 0.2 and 0.4 kWh: errors 0.5*0.2, -1.0*0.4, (NaN left out), 2.0*0.2 kWh
    got = kwh_errors(np.array([0.5, -1.0, np.nan, 2.0]), np.array([0, 1, 1, 0]), np.array([0.2, 0.4]))
    assert got["scored"] == 3
    assert math.isclose(got["rmse_kwh"], math.sqrt((0.1 ** 2 + 0.4 ** 2 + 0.4 ** 2) / 3), rel_tol=1e-12)
    assert math.isclose(got["rmse_kwh"], 0.33166247903554, rel_tol=1e-12)
    assert math.isclose(got["mae_kwh"], 0.3, rel_tol=1e-12)
    assert kwh_errors(np.array([np.nan]), np.array([0]), np.array([1.0])) == {"rmse_kwh": None, "mae_kwh": None,
                                                                               "scored": 0}


def test_un_z_scoring_a_persistence_error_gives_back_the_kwh_difference_of_the_raw_readings():
    # a household of 48 history hours 0.1..4.8 kWh, then 0.7, 1.9, 0.3 kWh
    raw = np.concatenate([np.arange(1, 49) * 0.1, [0.7, 1.9, 0.3]])
    series = DeviceSeries.from_hourly(0, "h0", np.datetime64("2013-01-01T00", "h"), raw,
                                      np.datetime64("2013-01-03T00", "h"), history_hours=48, horizon_hours=3)
    assert math.isclose(series.std, float(np.std(np.arange(1, 49) * 0.1)), rel_tol=1e-12)  # 1.3853 kWh
    z = persistence_errors(series, np.array([1, 2]))  # value[h-1] - value[h], z-scored
    got = kwh_errors(z, np.array([0, 0]), np.array([series.std]))
    # by hand: |0.7 - 1.9| = 1.2 and |1.9 - 0.3| = 1.6 kWh (float32 storage of the z-scores: 1e-6)
    assert math.isclose(got["mae_kwh"], (1.2 + 1.6) / 2, rel_tol=1e-6)
    assert math.isclose(got["rmse_kwh"], math.sqrt((1.2 ** 2 + 1.6 ** 2) / 2), rel_tol=1e-6)


def test_local_inference_means_only_the_served_local_requests():
    table = {"dropped": np.array([0, 0, 1, 0]), "target": np.array([0, 1, 0, 0]),
             "latency_s": np.array([0.001, 0.05, 9.0, 0.003]),
             "energy_compute_j": np.array([0.002, 0.0, 5.0, 0.004], np.float32),
             "energy_radio_j": np.array([0.0, 0.3, 0.0, 0.0])}
    got = local_inference(table, local=0)
    assert got["requests"] == 2 and math.isclose(got["latency_mean_s"], 0.002)
    assert math.isclose(got["energy_j"], 0.003, rel_tol=1e-6)
