"""A like-for-like central reference for a federated run: the same model, the pooled data, the same test hours.

This is a researcher's yardstick computed outside the simulated system: it pools the raw training
windows of every device on purpose, which no part of the simulated system may do (the server never
opens a device's data). It answers "how close does federation get to training on all the data at once".

What is pooled (``pooled_windows``): for every device ``d`` in ``devices`` (partition ``d``, the same
household stream, z-scoring and calendar the device itself uses, from ``DeviceSettings.series``), the
valid windows ``DeviceSeries.training_windows(until_hour, span_hours, ...)``, i.e. the windows whose
target hour lies in ``[until_hour - span_hours, until_hour)``. With ``until_hour`` = the end of the
run and ``span_hours`` = ``federation.train_span``, that is every window a device's local training
could have drawn from in any round of the run (rounds at hour h use ``[h - span, h)``, h < end),
plus the last hours before the end of the run.

Training (``train_central``): ``clients.forecast.fit`` (Adam on MSE, seeded shuffles) from
``build_model(spec, seed)``, over all pooled windows for ``epochs`` epochs, then ``fine_epochs`` more at
``lr / 10``; no early stopping (nothing is chosen by looking at the test hours).

Scoring: ``clients.device.score_fleet``, the code that scores every run's forecasts, so
``sim.forecasts.score_versions(lambda r, w: score_fleet(settings, r, w), n, {(EDGE_MODEL, 0): arrays}, end_hour)``
scores the central model on exactly the held-out hours and with exactly the code of ``versions.csv``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from clients.device import DeviceSettings
from clients.forecast import fit
from clients.model import EDGE_MODEL, build_model, get_arrays


@dataclass(frozen=True)
class CentralReference:
    """A centrally trained model's weights and how it was trained."""

    arrays: list[np.ndarray]
    windows: int            # pooled training windows
    devices: int            # devices that contributed at least one window
    final_train_mse: float  # mean MSE of the last training epoch
    seconds: float


def pooled_windows(settings: DeviceSettings, devices: Iterable[int], until_hour: int, span_hours: int
                   ) -> tuple[np.ndarray, np.ndarray, dict[int, int]]:
    """All devices' training windows with targets in [until - span, until), concatenated in device order.

    Returns (X [n, window, F], y [n], windows per device).
    """
    spec = settings.specs[EDGE_MODEL]
    xs, ys, counts = [], [], {}
    for dev in devices:
        x, y = settings.series(int(dev)).training_windows(until_hour, span_hours, spec.window, spec.calendar)
        xs.append(x)
        ys.append(y)
        counts[int(dev)] = int(len(y))
    if not xs:
        raise ValueError("no devices to pool")
    return np.concatenate(xs), np.concatenate(ys), counts


def train_central(settings: DeviceSettings, devices: Iterable[int], until_hour: int, span_hours: int, *,
                  epochs: int = 20, fine_epochs: int = 5, lr: float = 3e-3, batch_size: int = 128,
                  seed: int = 0) -> CentralReference:
    """Train the scenario's edge model on the pooled windows (deterministic for a fixed seed)."""
    t_start = time.perf_counter()
    X, y, counts = pooled_windows(settings, devices, until_hour, span_hours)
    if len(y) == 0:
        raise ValueError("no valid training window on any device")
    model = build_model(settings.specs[EDGE_MODEL], seed)
    loss = fit(model, X, y, epochs, lr, batch_size, seed=seed) if epochs > 0 else float("nan")
    if fine_epochs > 0:
        loss = fit(model, X, y, fine_epochs, lr / 10, batch_size, seed=seed + 1)
    return CentralReference(get_arrays(model), int(len(y)), sum(1 for c in counts.values() if c),
                            float(loss), time.perf_counter() - t_start)
