"""Device availability: diurnal windows and traces against closed-form counts."""
from __future__ import annotations

import math

import numpy as np
import pytest

from sim.availability import Always, Diurnal, Trace, make_availability
from sim.scenario_async import Availability
from sim.world import stream

MINUTES_A_DAY = np.arange(0.0, 86400.0, 60.0)


def _minutes_available(model, dev: int) -> int:
    return sum(model.available(dev, float(t)) for t in MINUTES_A_DAY + 86400.0 * 3)  # any day is the same


def test_a_night_window_without_jitter_opens_at_midnight_and_closes_at_six():
    model = make_availability(Availability(kind="diurnal", jitter="0s"), 4, stream(1, "availability"))
    assert [model.available(0, h * 3600.0) for h in (0, 3, 5.99, 6, 12, 23.99, 24)] == \
        [True, True, True, False, False, False, True]
    assert model.until(2, 3600.0) == 6 * 3600.0 and model.until(2, 7 * 3600.0) == 7 * 3600.0
    assert _minutes_available(model, 3) == 6 * 60


@pytest.mark.parametrize("opens, closes, hours", [(0, 6, 6), (22, 6, 8), (9.5, 17, 7.5)])
def test_jitter_shifts_each_window_but_keeps_its_length(opens, closes, hours):
    model = make_availability(Availability(kind="diurnal", from_hour=opens, to_hour=closes, jitter="2h"), 20,
                              stream(7, "availability"))
    assert all(_minutes_available(model, d) == hours * 60 for d in range(20))
    offsets = model.offsets_s
    assert np.all(np.abs(offsets) <= 7200.0) and len(set(offsets.tolist())) == 20
    mid = (opens * 3600.0 + (hours * 3600.0) / 2)  # 2h of jitter never moves the middle of a window >= 4h long out
    assert all(model.available(d, mid) for d in range(20))


def test_offsets_come_from_their_own_seeded_stream():
    settings = Availability(kind="diurnal")
    a, b = (make_availability(settings, 5, stream(3, "availability")).offsets_s for _ in range(2))
    c = make_availability(settings, 5, stream(4, "availability")).offsets_s
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_a_trace_merges_touching_intervals_and_leaves_unlisted_devices_out():
    model = Trace([(0, 100.0, 200.0), (0, 200.0, 300.0), (0, 500.0, 600.0), (2, 0.0, 10.0)], 3)
    assert [model.available(0, t) for t in (99.0, 100.0, 250.0, 300.0, 550.0, 600.0)] == \
        [False, True, True, False, True, False]
    assert model.until(0, 150.0) == 300.0 and model.until(0, 400.0) == 400.0
    assert not any(model.available(1, t) for t in (0.0, 150.0, 550.0))
    assert model.until(2, 5.0) == 10.0


def test_always_is_always():
    assert Always().available(0, 1e9) and Always().until(0, 5.0) == math.inf


def test_diurnal_window_wraps_midnight():
    model = Diurnal(22 * 3600.0, 6 * 3600.0, np.zeros(1))
    assert model.available(0, 23 * 3600.0) and model.available(0, 86400.0 + 3600.0)
    assert model.until(0, 23 * 3600.0) == 86400.0 + 6 * 3600.0
