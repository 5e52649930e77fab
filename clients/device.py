"""A device's own deployment settings and the scoring of its requests' forecasts (no Flower needed)."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from clients.data import DeviceSeries
from clients.forecast import forecast_errors, persistence_errors
from clients.model import CLOUD_MODEL, EDGE_MODEL, PERSONAL_MODEL, ModelSpec


@dataclass(frozen=True)
class DeviceSettings:
    """What a device knows about its own deployment: model architecture and where its data stream starts.

    The server sends these in every message's config (keys below), so one ClientApp serves any scenario.
    """

    start: str
    history_hours: int
    horizon_hours: int
    seed: int
    specs: dict[int, ModelSpec]  # architecture of each model a request may use: edge, cloud, personal
    personalise: bool = False

    @classmethod
    def from_config(cls, config) -> "DeviceSettings":
        edge = _spec(config, "edge")
        specs = {EDGE_MODEL: edge, PERSONAL_MODEL: edge}
        if "cloud-hidden" in config:
            specs[CLOUD_MODEL] = _spec(config, "cloud")
        return cls(str(config["data-start"]), int(config["history-hours"]),
                   int(config["horizon-hours"]), int(config["seed"]), specs, bool(config.get("personalise", False)))

    def trained_spec(self, config) -> ModelSpec:
        """The architecture a TRAIN message trains: the edge model, or the cloud model during its pretraining."""
        return self.specs[CLOUD_MODEL if config.get("train-model", "edge") == "cloud" else EDGE_MODEL]

    def series(self, partition_id: int) -> DeviceSeries:
        return _series(partition_id, self.start, self.history_hours, self.horizon_hours)


def _spec(config, prefix: str) -> ModelSpec:
    return ModelSpec(cell=str(config[f"{prefix}-cell"]), hidden=int(config[f"{prefix}-hidden"]),
                     layers=int(config[f"{prefix}-layers"]), window=int(config[f"{prefix}-window"]),
                     calendar=bool(config[f"{prefix}-calendar"]))


@functools.lru_cache(maxsize=8)
def _series(partition_id: int, start: str, history_hours: int, horizon_hours: int) -> DeviceSeries:
    return DeviceSeries.load(partition_id, start=start, history_hours=history_hours, horizon_hours=horizon_hours)


def score_requests(settings: DeviceSettings, partition_id: int, forecasts: dict[str, np.ndarray],
                   weights: dict[tuple[int, int], list[np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Forecast and persistence errors of one device's forecasts ("hour", "model", "version", "quantized"):
    one forward pass per model, version and dtype. `weights` holds the shared models and the device's own copies."""
    series = settings.series(partition_id)
    hours, models = np.asarray(forecasts["hour"]), np.asarray(forecasts["model"])
    errors = np.full(len(hours), np.nan)
    for model in np.unique(models):
        rows = np.flatnonzero(models == model)
        mine = {version: arrays for (m, version), arrays in weights.items() if m == model}
        errors[rows] = forecast_errors(series, settings.specs[int(model)], hours[rows],
                                       np.asarray(forecasts["version"])[rows],
                                       np.asarray(forecasts["quantized"])[rows].astype(bool), mine)
    return errors, persistence_errors(series, hours)
