"""Batched forecast scoring: which requests each device must score, and where the errors go back."""
from __future__ import annotations

from typing import Callable

import numpy as np

from sim.policies import LOCAL
from sim.recorder import SERVED

# device -> its distinct forecasts ("hour", "version", "quantized") and, per served request, "row" and "key"
Requests = dict[int, dict[str, np.ndarray]]
# device -> (model errors, persistence errors), aligned with that device's requests
Errors = dict[int, tuple[np.ndarray, np.ndarray]]
Evaluator = Callable[[Requests, dict[int, list[np.ndarray]]], Errors]


def device_config(scenario) -> dict:
    """The deployment settings a device needs (clients.device.DeviceSettings.from_config reads them)."""
    edge = scenario.models.edge
    return {"model-cell": edge.cell, "model-hidden": edge.hidden, "model-layers": edge.layers,
            "model-window": edge.window, "model-calendar": edge.calendar, "data-start": scenario.data.start,
            "history-hours": int(scenario.data.history // 3600), "horizon-hours": int(scenario.duration // 3600) + 48,
            "seed": scenario.seed}


def requests_by_device(table: dict[str, np.ndarray], int8_on_device: bool) -> Requests:
    """Per device, the distinct forecasts its served requests need: (hour, model version, int8 or not).

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
        keys = np.stack([table["hour"][chunk].astype(np.int64), table["model_version"][chunk].astype(np.int64),
                         ((table["target"][chunk] == LOCAL) & int8_on_device).astype(np.int64)], axis=1)
        unique, inverse = np.unique(keys, axis=0, return_inverse=True)
        out[int(table["device"][chunk[0]])] = {"row": chunk, "key": inverse.reshape(-1), "hour": unique[:, 0],
                                               "version": unique[:, 1], "quantized": unique[:, 2]}
    return out


def score(table: dict[str, np.ndarray], requests: Requests, evaluate: Evaluator,
          versions: dict[int, list[np.ndarray]]) -> None:
    """Fill the forecast_error and baseline_error columns in place; NaN where a device did not answer."""
    table["forecast_error"][:] = np.nan
    table["baseline_error"][:] = np.nan
    for dev, (errors, baseline) in evaluate(requests, versions).items():
        cols = requests[dev]
        table["forecast_error"][cols["row"]] = errors[cols["key"]]
        table["baseline_error"][cols["row"]] = baseline[cols["key"]]


HELD_OUT_HOURS = 48  # the hours right after the run: no model version has trained on them


def score_versions(evaluate: Evaluator, n_devices: int, versions: dict[int, list[np.ndarray]],
                   first_hour: int) -> list[dict]:
    """Every global model version on the same held-out hours of every device (fp32): MSE and MAE per version."""
    hours = np.arange(first_hour, first_hour + HELD_OUT_HOURS, dtype=np.int64)
    order = sorted(versions)
    requests = {dev: {"hour": np.tile(hours, len(order)), "version": np.repeat(order, len(hours)).astype(np.int64),
                      "quantized": np.zeros(len(hours) * len(order), np.int64)} for dev in range(n_devices)}
    answers = evaluate(requests, versions)
    rows = []
    for v in order:
        errors = np.concatenate([err[requests[d]["version"] == v] for d, (err, _) in sorted(answers.items())])
        baseline = np.concatenate([base[requests[d]["version"] == v] for d, (_, base) in sorted(answers.items())])
        ok = np.isfinite(errors) & np.isfinite(baseline)
        rows.append({"model_version": v, "held_out_hours": HELD_OUT_HOURS, "devices": len(answers),
                     "forecasts": int(ok.sum()), "mse": float(np.mean(errors[ok] ** 2)) if ok.any() else None,
                     "mae": float(np.mean(np.abs(errors[ok]))) if ok.any() else None,
                     "persistence_mse": float(np.mean(baseline[ok] ** 2)) if ok.any() else None})
    return rows
