"""A device's own deployment settings and the scoring of its requests' forecasts (no Flower needed)."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from clients.data import DeviceSeries
from clients.forecast import forecast_errors, persistence_errors
from clients.model import ModelSpec


@dataclass(frozen=True)
class DeviceSettings:
    """What a device knows about its own deployment: model architecture and where its data stream starts.

    The server sends these in every message's config (keys below), so one ClientApp serves any scenario.
    """

    spec: ModelSpec
    start: str
    history_hours: int
    horizon_hours: int
    seed: int

    @classmethod
    def from_config(cls, config) -> "DeviceSettings":
        spec = ModelSpec(cell=str(config["model-cell"]), hidden=int(config["model-hidden"]),
                         layers=int(config["model-layers"]), window=int(config["model-window"]),
                         calendar=bool(config["model-calendar"]))
        return cls(spec, str(config["data-start"]), int(config["history-hours"]), int(config["horizon-hours"]),
                   int(config["seed"]))

    def series(self, partition_id: int) -> DeviceSeries:
        return _series(partition_id, self.start, self.history_hours, self.horizon_hours)


@functools.lru_cache(maxsize=8)
def _series(partition_id: int, start: str, history_hours: int, horizon_hours: int) -> DeviceSeries:
    return DeviceSeries.load(partition_id, start=start, history_hours=history_hours, horizon_hours=horizon_hours)


def score_requests(settings: DeviceSettings, partition_id: int, hours: np.ndarray, versions: np.ndarray,
                   quantized: np.ndarray, weights: dict[int, list[np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Forecast and persistence errors of one device's requests (one forward pass per version and dtype)."""
    series = settings.series(partition_id)
    errors = forecast_errors(series, settings.spec, hours, versions, quantized.astype(bool), weights)
    return errors, persistence_errors(series, hours)
