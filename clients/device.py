"""A device's own deployment settings and the scoring of its requests' forecasts (no Flower needed)."""
from __future__ import annotations

import numpy as np

from clients.data import DeviceSeries
from clients.forecast import forecast_errors, persistence_errors
from clients.model import ModelSpec


class DeviceSettings:
    """What a device knows about its own deployment: model architecture and where its data stream starts."""

    def __init__(self, spec: ModelSpec, start: str, history_hours: int, horizon_hours: int, seed: int):
        self.spec, self.start, self.seed = spec, start, seed
        self.history_hours, self.horizon_hours = history_hours, horizon_hours

    @classmethod
    def from_scenario(cls, scenario) -> "DeviceSettings":
        return cls(ModelSpec(**scenario.models.edge.model_dump()), scenario.data.start,
                   int(scenario.data.history // 3600), int(scenario.duration // 3600) + 48, scenario.seed)

    def series(self, partition_id: int) -> DeviceSeries:
        return DeviceSeries.load(partition_id, start=self.start, history_hours=self.history_hours,
                                 horizon_hours=self.horizon_hours)


def score_requests(settings: DeviceSettings, partition_id: int, hours: np.ndarray, versions: np.ndarray,
                   quantized: np.ndarray, weights: dict[int, list[np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Forecast and persistence errors of one device's requests (one forward pass per version and dtype)."""
    series = settings.series(partition_id)
    errors = forecast_errors(series, settings.spec, hours, versions, quantized.astype(bool), weights)
    return errors, persistence_errors(series, hours)
