"""Batched forecast scoring: which requests each device must score, and where the errors go back."""
from __future__ import annotations

from typing import Callable

import numpy as np

from sim.policies import LOCAL
from sim.recorder import SERVED

# device -> columns "hour", "version", "quantized", "row" of its served requests
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
    """Group served requests by device (one scoring call per device, one forward pass per version)."""
    served = np.flatnonzero(table["dropped"] == SERVED)
    devices = table["device"][served]
    order = np.argsort(devices, kind="stable")
    rows = served[order]
    bounds = np.flatnonzero(np.diff(devices[order])) + 1
    out: Requests = {}
    for chunk in np.split(rows, bounds):
        if len(chunk):
            out[int(table["device"][chunk[0]])] = {
                "row": chunk,
                "hour": table["hour"][chunk].astype(np.int64),
                "version": table["model_version"][chunk].astype(np.int64),
                "quantized": ((table["target"][chunk] == LOCAL) & int8_on_device).astype(np.int64),
            }
    return out


def score(table: dict[str, np.ndarray], requests: Requests, evaluate: Evaluator,
          versions: dict[int, list[np.ndarray]]) -> None:
    """Fill the forecast_error and baseline_error columns in place; NaN where a device did not answer."""
    table["forecast_error"][:] = np.nan
    table["baseline_error"][:] = np.nan
    for dev, (errors, baseline) in evaluate(requests, versions).items():
        rows = requests[dev]["row"]
        table["forecast_error"][rows] = errors
        table["baseline_error"][rows] = baseline
