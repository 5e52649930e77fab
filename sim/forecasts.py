"""Batched forecast scoring: which requests each device must score, and where the errors go back."""
from __future__ import annotations

from typing import Callable

import numpy as np

from clients.spec import MODEL_NAMES, PERSONAL_MODEL
from sim.policies import LOCAL
from sim.recorder import SERVED

# device -> its distinct forecasts: "hour", "model", "version", "quantized" (int64 arrays)
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


# A served request's forecast as one int64: device, then hour, model, version, int8 (mixed radix, most significant
# first), so sorted codes order each device's keys as np.unique orders its (hour, model, version, quantized) rows.
# (name, bits, offset): an int16 version may be negative; 24 device bits hold 16.7M devices
CODE_FIELDS = (("hour", 16, 0), ("model", 2, 0), ("version", 16, 1 << 15), ("quantized", 1, 0))
CODE_DEVICE_SHIFT = sum(bits for _, bits, _ in CODE_FIELDS)
MAX_CODED_DEVICES = 1 << 24
# distinct forecasts scored per evaluate call: each needs its input window (about 1 kB) while its call runs
SCORE_KEYS_PER_CALL = 1 << 19


def forecast_codes(table: dict[str, np.ndarray], int8_on_device: bool) -> tuple[np.ndarray, np.ndarray]:
    """The served rows of `table` and the code of the forecast each needs (CODE_FIELDS): requests of one device
    in the same hour with the same model, version and precision get the same forecast, so share a code."""
    served = np.flatnonzero(table["dropped"] == SERVED)
    values = {"hour": table["hour"][served], "model": table["model"][served],
              "version": table["model_version"][served],
              "quantized": (table["target"][served] == LOCAL) & int8_on_device}
    code = table["device"][served].astype(np.int64)
    if len(code) and not 0 <= code.min() <= code.max() < MAX_CODED_DEVICES:
        raise ValueError(f"forecast scoring codes at most {MAX_CODED_DEVICES:,} devices")
    for name, bits, offset in CODE_FIELDS:
        field = values[name].astype(np.int64) + offset
        if len(field) and not 0 <= field.min() <= field.max() < 1 << bits:
            raise ValueError(f"forecast scoring codes {name} + {offset} in [0, {1 << bits}), got "
                             f"[{field.min()}, {field.max()}]")
        code = (code << bits) | field
    return served, code


def requests_of(codes: np.ndarray) -> Requests:
    """Per device, the forecasts that sorted, distinct `codes` name (the evaluator's question)."""
    devices = codes >> CODE_DEVICE_SHIFT
    fields, shift = {}, CODE_DEVICE_SHIFT
    for name, bits, offset in CODE_FIELDS:
        shift -= bits
        fields[name] = ((codes >> shift) & ((1 << bits) - 1)) - offset
    bounds = np.flatnonzero(np.diff(devices)) + 1
    starts = np.concatenate([[0], bounds]).astype(np.int64)
    ends = np.concatenate([bounds, [len(codes)]]).astype(np.int64)
    return {int(devices[a]): {name: fields[name][a:b] for name in KEY_COLUMNS} for a, b in zip(starts, ends)}


def asking_order(evaluate: Evaluator, devices: np.ndarray) -> np.ndarray:
    """For each device, the rank of the slice group it is asked in: devices that read the same stream together
    when the evaluator says which do (sim.app.runner.InProcessScorer.stream_groups: it then forecasts each of a
    stream's windows once for all of them), else each device on its own, in order."""
    groups = getattr(evaluate, "stream_groups", None)
    return np.asarray(groups(devices), np.int64) if groups is not None else np.arange(len(devices), dtype=np.int64)


def score_codes(codes: np.ndarray, evaluate: Evaluator, weights: Weights,
                keys_per_call: int = SCORE_KEYS_PER_CALL) -> tuple[np.ndarray, np.ndarray]:
    """Model and persistence errors of sorted, distinct forecast `codes` (NaN where a device did not answer),
    asked of `evaluate` a slice of whole devices at a time (keys_per_call bounds the memory), devices that share
    a stream in the same slice (asking_order). A forecast's bits do not depend on its slice
    (tests/clients/test_predict_rows.py)."""
    devices = codes >> CODE_DEVICE_SHIFT
    known, first = np.unique(devices, return_index=True)
    rank = asking_order(evaluate, known)
    # slices run over units (asking groups), each unit's codes in code order, so each device's codes stay together
    unit = np.repeat(rank, np.diff(np.append(first, len(codes))))
    order = np.lexsort((codes, unit))
    asked, unit = codes[order], unit[order]
    errors, baseline = np.full(len(codes), np.nan), np.full(len(codes), np.nan)
    lo = 0
    while lo < len(asked):
        hi = lo + max(1, keys_per_call)
        if hi < len(asked):  # end on a unit boundary (a unit with more keys than a call takes them all)
            start = int(np.searchsorted(unit, unit[hi], side="left"))
            hi = start if start > lo else int(np.searchsorted(unit, unit[hi], side="right"))
        hi = min(hi, len(asked))
        requests = requests_of(asked[lo:hi])
        answers = evaluate(requests, weights)
        at = lo
        for dev, cols in requests.items():  # requests_of's devices, in code order
            n = len(cols["hour"])
            if dev in answers:
                errors[order[at:at + n]], baseline[order[at:at + n]] = answers[dev]
            at += n
        lo = hi
    return errors, baseline


def fill_errors(table: dict[str, np.ndarray], rows: np.ndarray, at: np.ndarray, errors: np.ndarray,
                baseline: np.ndarray) -> None:
    """Write the errors of forecast keys `at` into the served `rows` of the table's error columns (NaN elsewhere)."""
    table["forecast_error"][:] = np.nan
    table["baseline_error"][:] = np.nan
    table["forecast_error"][rows] = errors[at]
    table["baseline_error"][rows] = baseline[at]


def score(table: dict[str, np.ndarray], int8_on_device: bool, evaluate: Evaluator, weights: Weights) -> None:
    """Fill the forecast_error and baseline_error columns in place; NaN where a device did not answer."""
    rows, codes = forecast_codes(table, int8_on_device)
    keys, at = np.unique(codes, return_inverse=True)
    fill_errors(table, rows, at.reshape(-1), *score_codes(keys, evaluate, weights))


HELD_OUT_HOURS = 48  # the hours right after the run: no model version has trained on them


def score_versions(evaluate: Evaluator, n_devices: int, weights: Weights, first_hour: int,
                   personal: list[int] | None = None, keys_per_call: int = SCORE_KEYS_PER_CALL) -> list[dict]:
    """Every shared model (each global edge version, the cloud model) on the same held-out hours of every device,
    in fp32, and, with personalisation, each device's newest personal copy on its own held-out hours.
    Asked of `evaluate` a slice of devices at a time (keys_per_call bounds the memory, as in score_codes: at
    metro scale all versions on all devices at once held gigabytes), devices that share a stream in the same
    slice (asking_order); the errors are averaged in device order, so the rows do not depend on the slices."""
    hours = np.arange(first_hour, first_hour + HELD_OUT_HOURS, dtype=np.int64)
    shared = sorted(weights)
    kinds = shared + ([(PERSONAL_MODEL, -1)] if personal and max(personal) >= 0 else [])
    answered: dict[tuple[int, int], list[tuple[int, np.ndarray, np.ndarray]]] = {kind: [] for kind in kinds}
    everyone = np.arange(n_devices, dtype=np.int64)
    asked = everyone[np.argsort(asking_order(evaluate, everyone), kind="stable")].tolist()
    step = max(1, keys_per_call // (len(hours) * (len(shared) + 1)))
    for lo in range(0, n_devices, step):
        requests = {}
        for dev in asked[lo:lo + step]:
            keys = shared + ([(PERSONAL_MODEL, personal[dev])] if personal and personal[dev] >= 0 else [])
            models, versions = (np.repeat(np.array(column, np.int64), len(hours)) for column in zip(*keys))
            requests[dev] = {"hour": np.tile(hours, len(keys)), "model": models, "version": versions,
                             "quantized": np.zeros(len(models), np.int64)}
        answers = evaluate(requests, weights)
        for (model, version), parts in answered.items():
            for dev, (err, base) in answers.items():
                mine = requests[dev]["model"] == model
                if model != PERSONAL_MODEL:
                    mine &= requests[dev]["version"] == version
                if mine.any():
                    parts.append((dev, err[mine], base[mine]))
    rows = []
    for (model, version), parts in answered.items():
        parts.sort(key=lambda part: part[0])  # averaged in device order, whatever order they were asked in
        errors = np.concatenate([err for _, err, _ in parts] + [np.empty(0)])
        baseline = np.concatenate([base for _, _, base in parts] + [np.empty(0)])
        ok = np.isfinite(errors) & np.isfinite(baseline)
        rows.append({"model": MODEL_NAMES[model], "model_version": version, "held_out_hours": HELD_OUT_HOURS,
                     "devices": len(parts), "forecasts": int(ok.sum()),
                     "mse": float(np.mean(errors[ok] ** 2)) if ok.any() else None,
                     "mae": float(np.mean(np.abs(errors[ok]))) if ok.any() else None,
                     "persistence_mse": float(np.mean(baseline[ok] ** 2)) if ok.any() else None})
    return rows
