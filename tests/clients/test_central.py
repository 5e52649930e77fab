"""The like-for-like central reference (clients/central.py): what it pools, determinism, and that it learns."""
import numpy as np
import pytest

import torch

from clients.central import pooled_windows, train_central
from clients.device import DeviceSettings, score_fleet
from clients.forecast import persistence_errors
from clients.model import EDGE_MODEL
from sim.forecasts import HELD_OUT_HOURS, score_versions

DEVICES = [0, 1, 2]  # score_versions scores devices 0..n-1
END_HOUR, SPAN_HOURS = 24, 24 * 21


@pytest.fixture(scope="module")
def settings():
    torch.set_num_threads(1)
    config = {"edge-cell": "lstm", "edge-hidden": 8, "edge-layers": 1, "edge-window": 24, "edge-calendar": False,
              "data-start": "2013-09-02", "history-hours": 24 * 30, "horizon-hours": END_HOUR + 48, "seed": 3}
    return DeviceSettings.from_config(config)


def test_pools_exactly_each_devices_own_training_windows(settings):
    X, y, counts = pooled_windows(settings, DEVICES, END_HOUR, SPAN_HOURS)
    assert list(counts) == DEVICES and sum(counts.values()) == len(y) == len(X)
    assert all(SPAN_HOURS - 30 <= c <= SPAN_HOURS for c in counts.values())  # a few windows touch long gaps
    at = 0
    for dev in DEVICES:
        own_x, own_y = settings.series(dev).training_windows(END_HOUR, SPAN_HOURS, 24)
        np.testing.assert_array_equal(X[at:at + len(own_y)], own_x)
        np.testing.assert_array_equal(y[at:at + len(own_y)], own_y)
        at += len(own_y)
    # nothing at or after the end of the run: the last target is hour END_HOUR - 1 of the last device
    last = settings.series(DEVICES[-1])
    assert y[-1] == last.values[last.index_of_hours(END_HOUR - 1)]


@pytest.fixture(scope="module")
def references(settings):
    kwargs = dict(epochs=3, fine_epochs=1, lr=5e-3, batch_size=64)
    return (train_central(settings, DEVICES, END_HOUR, SPAN_HOURS, seed=1, **kwargs),
            train_central(settings, DEVICES, END_HOUR, SPAN_HOURS, seed=1, **kwargs),
            train_central(settings, DEVICES, END_HOUR, SPAN_HOURS, seed=2, **kwargs))


def test_deterministic_for_a_fixed_seed(references):
    first, again, other = references
    assert first.windows == again.windows > 1000 and first.devices == len(DEVICES)
    for a, b in zip(first.arrays, again.arrays):
        np.testing.assert_array_equal(a, b)
    assert first.final_train_mse == again.final_train_mse
    assert any(not np.array_equal(a, b) for a, b in zip(first.arrays, other.arrays))


def test_beats_persistence_on_the_held_out_hours_scored_like_versions_csv(settings, references):
    requests_devices = len(DEVICES)
    row = score_versions(lambda requests, weights: score_fleet(settings, requests, weights), requests_devices,
                         {(EDGE_MODEL, 0): references[0].arrays}, END_HOUR)[0]
    assert row["held_out_hours"] == HELD_OUT_HOURS and row["devices"] == requests_devices
    assert row["forecasts"] >= 0.95 * requests_devices * HELD_OUT_HOURS
    assert row["mse"] < 0.85 * row["persistence_mse"], row
    # persistence here is the same baseline a device reports on those hours
    hours = np.arange(END_HOUR, END_HOUR + HELD_OUT_HOURS)
    pers = np.concatenate([persistence_errors(settings.series(d), hours) for d in range(requests_devices)])
    assert row["persistence_mse"] == pytest.approx(float(np.nanmean(pers ** 2)))
