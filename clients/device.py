"""A device's own deployment settings and the scoring of its requests' forecasts (no Flower needed)."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from clients.data import DeviceSeries, stream_key
from clients.forecast import _dynamic_int8, persistence_errors, predict, serving_model
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

    def stream_groups(self, partition_ids: np.ndarray) -> np.ndarray:
        """An int per partition; partitions with equal ints read the same stream (clients.data.stream_key)."""
        number: dict[tuple, int] = {}
        return np.array([number.setdefault(stream_key(int(p), self.start, self.history_hours), len(number))
                         for p in partition_ids], np.int64)


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
    int8) across all of them; a group's inputs are gathered only while that group runs, so scoring every model
    version on every device stays small.

    Devices that read the same stream (clients.data gives the devices of one household copy one DeviceSeries'
    values) share its windows: each (stream, hour) window is built once, and a model forecasts it once for all
    of them, because predict's bits do not depend on which rows share a pass (tests/clients/test_predict_rows.py).
    A metro-scale fleet of 100,000 devices reads about 7,000 streams. quantize_dynamic models scale activations
    per batch, so they forecast every request's window in device order, as before."""
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    # pass 1: each device's distinct hours, and per stream (keyed by its values array, held alive in `streams`)
    # the union of its devices' hours
    streams: dict[int, tuple[DeviceSeries, list[np.ndarray]]] = {}
    plan = []
    for dev, cols in requests.items():
        series = settings.series(dev)
        hours, models = np.asarray(cols["hour"], np.int64), np.asarray(cols["model"], np.int64)
        distinct, where = np.unique(hours, return_inverse=True)
        stream = id(series.values)
        streams.setdefault(stream, (series, []))[1].append(distinct)
        plan.append((dev, stream, models, cols, distinct, where.reshape(-1)))
    hours_of = {stream: np.unique(np.concatenate(parts)) if len(parts) > 1 else parts[0]
                for stream, (_, parts) in streams.items()}
    baseline = {stream: persistence_errors(streams[stream][0], hours_of[stream]) for stream in streams}
    inputs: dict[tuple[int, int, bool], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # (stream, window, cal)
    groups: dict[tuple[int, int, int], list[tuple[int, np.ndarray, np.ndarray, tuple]]] = {}
    for dev, stream, models, cols, distinct, where in plan:
        at = np.searchsorted(hours_of[stream], distinct)[where]  # each request's row in its stream's hours
        versions, quantized = np.asarray(cols["version"], np.int64), np.asarray(cols["quantized"], np.int64)
        out[dev] = (np.full(len(models), np.nan), baseline[stream][at])
        for model in np.unique(models):
            spec = settings.specs[int(model)]
            key = (stream, spec.window, spec.calendar)
            if key not in inputs:
                inputs[key] = streams[stream][0].windows(hours_of[stream], spec.window, spec.calendar)
            rows = np.flatnonzero((models == model) & inputs[key][2][at])
            for version, int8 in set(zip(versions[rows].tolist(), quantized[rows].tolist())):
                members = rows[(versions[rows] == version) & (quantized[rows] == int8)]
                groups.setdefault((int(model), version, int8), []).append((dev, members, at[members], key))
    for (model, version, int8), parts in sorted(groups.items()):
        if (model, version) not in weights:
            raise KeyError(f"no weights for model {model} version {version}")
        module = serving_model(settings.specs[model], weights[(model, version)], bool(int8))
        errors = _group_errors(module, inputs, parts)
        start = 0
        for dev, members, _, _ in parts:
            out[dev][0][members] = errors[start:start + len(members)]
            start += len(members)
    return out


def _group_errors(module, inputs: dict, parts: list[tuple[int, np.ndarray, np.ndarray, tuple]]) -> np.ndarray:
    """Prediction minus target of every request of one (model, version, int8) group, in parts order; each distinct
    (stream, hour) window forecast once unless the module's result depends on its batch (quantize_dynamic)."""
    if _dynamic_int8(module):
        X = np.concatenate([inputs[key][0][at] for _, _, at, key in parts])
        y = np.concatenate([inputs[key][1][at] for _, _, at, key in parts])
        return predict(module, X).astype(np.float64) - y
    keys = list(dict.fromkeys(key for _, _, _, key in parts))
    number = {key: k for k, key in enumerate(keys)}
    stride = max(len(inputs[key][1]) for key in keys)
    codes = np.concatenate([number[key] * stride + at for _, _, at, key in parts])
    distinct, which = np.unique(codes, return_inverse=True)
    bounds = np.searchsorted(distinct // stride, np.arange(len(keys) + 1))  # sorted: each key's rows in one run
    rows = [(inputs[keys[k]], distinct[bounds[k]:bounds[k + 1]] % stride) for k in range(len(keys))]
    X = np.concatenate([windows[0][at] for windows, at in rows])
    y = np.concatenate([windows[1][at] for windows, at in rows])
    return (predict(module, X).astype(np.float64) - y)[which.reshape(-1)]
