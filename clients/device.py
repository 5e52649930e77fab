"""A device's own deployment settings and the scoring of its requests' forecasts (no Flower needed)."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from clients.data import DeviceSeries
from clients.forecast import persistence_errors, predict, serving_model
from clients.model import CLOUD_MODEL, EDGE_MODEL, PERSONAL_MODEL, Compression, ModelSpec


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
        """The architecture a TRAIN message trains: the edge model as deployed, before its compression
        ("edge-dense", in pretraining), or the cloud model during its pretraining."""
        wanted = config.get("train-model", "edge")
        if wanted == "edge-dense":
            return self.specs[EDGE_MODEL].dense
        return self.specs[CLOUD_MODEL if wanted == "cloud" else EDGE_MODEL]

    def series(self, partition_id: int) -> DeviceSeries:
        return _series(partition_id, self.start, self.history_hours, self.horizon_hours)


def _spec(config, prefix: str) -> ModelSpec:
    compression = None
    if f"{prefix}-prune" in config:
        compression = Compression(prune=float(config[f"{prefix}-prune"]),
                                  structured=bool(config[f"{prefix}-structured"]),
                                  distill_from=str(config[f"{prefix}-distill-from"]) or None)
    return ModelSpec(cell=str(config[f"{prefix}-cell"]), hidden=int(config[f"{prefix}-hidden"]),
                     layers=int(config[f"{prefix}-layers"]), window=int(config[f"{prefix}-window"]),
                     calendar=bool(config[f"{prefix}-calendar"]), proj_size=int(config.get(f"{prefix}-proj-size", 0)),
                     compression=compression)


@functools.lru_cache(maxsize=8)
def _series(partition_id: int, start: str, history_hours: int, horizon_hours: int) -> DeviceSeries:
    return DeviceSeries.load(partition_id, start=start, history_hours=history_hours, horizon_hours=horizon_hours)


def score_requests(settings: DeviceSettings, partition_id: int, forecasts: dict[str, np.ndarray],
                   weights: dict[tuple[int, int], list[np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Forecast and persistence errors of one device's forecasts ("hour", "model", "version", "quantized").
    `weights` holds the shared models and the device's own copies."""
    return score_fleet(settings, {partition_id: forecasts}, weights)[partition_id]


def score_fleet(settings: DeviceSettings, requests: dict[int, dict[str, np.ndarray]],
                weights: dict[tuple[int, int], list[np.ndarray]]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Forecast and persistence errors of many devices' forecasts with one forward pass per (model, version,
    int8) across all of them. Each device's windows are built once per distinct hour; a group's inputs are
    gathered only while that group runs, so scoring every model version on every device stays small."""
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    inputs: dict[tuple[int, int, bool], tuple[np.ndarray, np.ndarray]] = {}  # (device, window, calendar) -> X, y
    groups: dict[tuple[int, int, int], list[tuple[int, np.ndarray, np.ndarray, tuple]]] = {}
    for dev, cols in requests.items():
        series = settings.series(dev)
        hours, models = np.asarray(cols["hour"], np.int64), np.asarray(cols["model"], np.int64)
        versions, quantized = np.asarray(cols["version"], np.int64), np.asarray(cols["quantized"], np.int64)
        out[dev] = (np.full(len(hours), np.nan), persistence_errors(series, hours))
        distinct, where = np.unique(hours, return_inverse=True)
        where = where.reshape(-1)
        for model in np.unique(models):
            spec = settings.specs[int(model)]
            key = (dev, spec.window, spec.calendar)
            if key not in inputs:
                X, y, valid = series.windows(distinct, spec.window, spec.calendar)
                inputs[key] = (X, y, valid)
            valid = inputs[key][2]
            rows = np.flatnonzero((models == model) & valid[where])
            for version, int8 in set(zip(versions[rows].tolist(), quantized[rows].tolist())):
                members = rows[(versions[rows] == version) & (quantized[rows] == int8)]
                groups.setdefault((int(model), version, int8), []).append((dev, members, where[members], key))
    for (model, version, int8), parts in sorted(groups.items()):
        if (model, version) not in weights:
            raise KeyError(f"no weights for model {model} version {version}")
        module = serving_model(settings.specs[model], weights[(model, version)], bool(int8))
        X = np.concatenate([inputs[key][0][at] for _, _, at, key in parts])
        y = np.concatenate([inputs[key][1][at] for _, _, at, key in parts])
        errors = predict(module, X).astype(np.float64) - y
        start = 0
        for dev, members, _, _ in parts:
            out[dev][0][members] = errors[start:start + len(members)]
            start += len(members)
    return out
