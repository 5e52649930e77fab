"""Batched forecast scoring: which requests each device must score, and where the errors go back."""
from __future__ import annotations

from typing import Callable

import numpy as np

from clients.spec import MODEL_NAMES, PERSONAL_MODEL
from sim.policies import LOCAL
from sim.recorder import SERVED

# device -> its distinct forecasts ("hour", "model", "version", "quantized") and, per served request, "row" and "key"
Requests = dict[int, dict[str, np.ndarray]]
# device -> (model errors, persistence errors), aligned with that device's requests
Errors = dict[int, tuple[np.ndarray, np.ndarray]]
# (model, version) -> weights of the shared models; personal copies never leave their device
Weights = dict[tuple[int, int], list[np.ndarray]]
Evaluator = Callable[[Requests, Weights], Errors]
KEY_COLUMNS = ("hour", "model", "version", "quantized")


def _model_keys(prefix: str, model) -> dict:
    keys = {f"{prefix}-cell": model.cell, f"{prefix}-hidden": model.hidden, f"{prefix}-layers": model.layers,
            f"{prefix}-window": model.window, f"{prefix}-calendar": model.calendar}
    if model.proj_size:
        keys[f"{prefix}-proj-size"] = model.proj_size
    if model.compression is not None:
        c = model.compression
        keys.update({f"{prefix}-prune": c.prune, f"{prefix}-structured": c.structured,
                     f"{prefix}-distill-from": c.distill_from or ""})
    return keys


def device_config(scenario) -> dict:
    """The deployment settings a device needs (clients.device.DeviceSettings.from_config reads them):
    where its data starts and the architectures of the edge model and of the cloud model, if any."""
    models = scenario.models
    config = {**_model_keys("edge", models.edge), "data-start": scenario.data.start,
              "history-hours": int(scenario.data.history // 3600), "horizon-hours": int(scenario.duration // 3600) + 48,
              "seed": scenario.seed, "personalise": scenario.federation.personalise}
    if models.cloud is not None:
        config.update(_model_keys("cloud", models.cloud))
    return config


def requests_by_device(table: dict[str, np.ndarray], int8_on_device: bool) -> Requests:
    """Per device, the distinct forecasts its served requests need: (hour, model, version, int8 or not).

    Requests of one device in the same hour with the same model get the same forecast, so each
    distinct key is scored once ("rows" maps every request back to its key).
    """
    served = np.flatnonzero(table["dropped"] == SERVED)
    devices = table["device"][served]
    order = np.argsort(devices, kind="stable")
    rows = served[order]
    bounds = np.flatnonzero(np.diff(devices[order])) + 1
    out: Requests = {}
    for chunk in np.split(rows, bounds):
        if not len(chunk):
            continue
        keys = np.stack([table["hour"][chunk].astype(np.int64), table["model"][chunk].astype(np.int64),
                         table["model_version"][chunk].astype(np.int64),
                         ((table["target"][chunk] == LOCAL) & int8_on_device).astype(np.int64)], axis=1)
        unique, inverse = np.unique(keys, axis=0, return_inverse=True)
        out[int(table["device"][chunk[0]])] = {"row": chunk, "key": inverse.reshape(-1),
                                               **{name: unique[:, i] for i, name in enumerate(KEY_COLUMNS)}}
    return out


def score(table: dict[str, np.ndarray], requests: Requests, evaluate: Evaluator, weights: Weights) -> None:
    """Fill the forecast_error and baseline_error columns in place; NaN where a device did not answer."""
    table["forecast_error"][:] = np.nan
    table["baseline_error"][:] = np.nan
    for dev, (errors, baseline) in evaluate(requests, weights).items():
        cols = requests[dev]
        table["forecast_error"][cols["row"]] = errors[cols["key"]]
        table["baseline_error"][cols["row"]] = baseline[cols["key"]]


HELD_OUT_HOURS = 48  # the hours right after the run: no model version has trained on them


def score_versions(evaluate: Evaluator, n_devices: int, weights: Weights, first_hour: int,
                   personal: list[int] | None = None) -> list[dict]:
    """Every shared model (each global edge version, the cloud model) on the same held-out hours of every device,
    in fp32, and, with personalisation, each device's newest personal copy on its own held-out hours."""
    hours = np.arange(first_hour, first_hour + HELD_OUT_HOURS, dtype=np.int64)
    shared = sorted(weights)
    requests = {}
    for dev in range(n_devices):
        keys = shared + ([(PERSONAL_MODEL, personal[dev])] if personal and personal[dev] >= 0 else [])
        models, versions = (np.repeat(np.array(column, np.int64), len(hours)) for column in zip(*keys))
        requests[dev] = {"hour": np.tile(hours, len(keys)), "model": models, "version": versions,
                         "quantized": np.zeros(len(models), np.int64)}
    answers = evaluate(requests, weights)
    rows = []
    for model, version in shared + ([(PERSONAL_MODEL, -1)] if personal and max(personal) >= 0 else []):
        errors, baseline, devices = [], [], 0
        for dev, (err, base) in sorted(answers.items()):
            mine = requests[dev]["model"] == model
            if model != PERSONAL_MODEL:
                mine &= requests[dev]["version"] == version
            devices += bool(mine.any())
            errors.append(err[mine])
            baseline.append(base[mine])
        errors, baseline = np.concatenate(errors), np.concatenate(baseline)
        ok = np.isfinite(errors) & np.isfinite(baseline)
        rows.append({"model": MODEL_NAMES[model], "model_version": version, "held_out_hours": HELD_OUT_HOURS,
                     "devices": devices, "forecasts": int(ok.sum()),
                     "mse": float(np.mean(errors[ok] ** 2)) if ok.any() else None,
                     "mae": float(np.mean(np.abs(errors[ok]))) if ok.any() else None,
                     "persistence_mse": float(np.mean(baseline[ok] ** 2)) if ok.any() else None})
    return rows
