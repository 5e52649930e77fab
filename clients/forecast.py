"""Batched forecasting of many requests at once, incremental local training, and the persistence baseline."""
from __future__ import annotations

import numpy as np
import torch

from clients.data import DeviceSeries
from clients.model import ModelSpec, build_model, get_arrays, quantize_int8, set_arrays


# rows a forward pass: a chunk's gate activations (rows x 4 hidden floats a step) stay in one core's L2, which
# made 1,024 rows 1.3x to 2x faster than 8,192 here (bench/numerics.py --hidden 16 and 64). quantize_dynamic's
# result depends on its chunk (it scales activations per batch), so that keeps its own chunk, unpadded.
PREDICT_BATCH = 1024
DYNAMIC_INT8_BATCH = 8192
# An fp32 row's bits depend on how many rows its pass has (the CPU kernels treat a tail of rows differently):
# measured here, a pass of any multiple of 8 rows gives every row the bits of a 1,024-row pass, other sizes
# often do not. So the last chunk is padded with zero rows to a multiple of this, and a forecast's bits never
# depend on which other forecasts share its pass (tests/clients/test_predict_rows.py).
PAD_ROWS_TO = 16


def _dynamic_int8(model: torch.nn.Module) -> bool:
    return any(type(m).__module__.startswith("torch.ao.nn.quantized") for m in model.modules())


def predict(model: torch.nn.Module, X: np.ndarray, batch: int | None = None) -> np.ndarray:
    """Float32 predictions for X [n, window, F]: one forward pass per chunk of ``batch`` rows (default above)."""
    dynamic = _dynamic_int8(model)
    batch = batch or (DYNAMIC_INT8_BATCH if dynamic else PREDICT_BATCH)
    n = len(X)
    out = np.empty(n, dtype=np.float32)
    if n == 0:
        return out
    was_training = model.training
    model.eval()
    x = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    with torch.inference_mode():
        for lo in range(0, n, batch):
            chunk = x[lo:lo + batch]
            short = -len(chunk) % PAD_ROWS_TO
            if short and not dynamic:
                chunk = torch.cat([chunk, chunk.new_zeros((short, *chunk.shape[1:]))])
            out[lo:lo + batch] = model(chunk).numpy()[:min(batch, n - lo)]
    model.train(was_training)
    return out


def serving_model(spec: ModelSpec, arrays: list[np.ndarray], int8: bool) -> torch.nn.Module:
    """The module that answers forecasts with these weights: fp32, or int8 as a device runs it."""
    model = build_model(spec, 0)
    set_arrays(model, arrays)
    return quantize_int8(model) if int8 else model


def forecast_errors(series: DeviceSeries, spec: ModelSpec, sim_hours: np.ndarray, versions: np.ndarray,
                    quantized: np.ndarray, weights: dict[int, list[np.ndarray]]) -> np.ndarray:
    """Prediction minus target (z-scored units, float64) per request; NaN where the window is invalid.

    Requests are grouped by (model version, int8 or not); each group gets one model and one forward pass.
    """
    sim_hours = np.asarray(sim_hours, dtype=np.int64)
    versions = np.asarray(versions, dtype=np.int64)
    quantized = np.asarray(quantized, dtype=bool)
    if not (len(sim_hours) == len(versions) == len(quantized)):
        raise ValueError("sim_hours, versions and quantized must have the same length")
    errors = np.full(len(sim_hours), np.nan)
    X, y, valid = series.windows(sim_hours, spec.window, spec.calendar)
    rows = np.flatnonzero(valid)
    if len(rows) == 0:
        return errors
    keys = np.stack([versions[rows], quantized[rows].astype(np.int64)], axis=1)
    groups, group_of_row = np.unique(keys, axis=0, return_inverse=True)
    group_of_row = group_of_row.reshape(-1)
    for g, (version, is_int8) in enumerate(groups):
        if int(version) not in weights:
            raise KeyError(f"no weights for model version {int(version)}")
        model = serving_model(spec, weights[int(version)], bool(is_int8))
        members = rows[group_of_row == g]
        errors[members] = predict(model, X[members]).astype(np.float64) - y[members]
    return errors


def persistence_errors(series: DeviceSeries, sim_hours: np.ndarray) -> np.ndarray:
    """Last-hour baseline error value[h-1] - value[h] (float64), NaN where either hour is missing or out of range."""
    idx = series.index_of_hours(np.atleast_1d(sim_hours))
    n = len(series.values)
    ok = (idx >= 1) & (idx < n)
    prev = series.values[np.clip(idx - 1, 0, n - 1)].astype(np.float64)
    cur = series.values[np.clip(idx, 0, n - 1)].astype(np.float64)
    return np.where(ok, prev - cur, np.nan)


def fit(model: torch.nn.Module, X: np.ndarray, y: np.ndarray, epochs: int, lr: float, batch_size: int = 64,
        proximal_mu: float = 0.0, seed: int = 0) -> float:
    """Adam on MSE (+ mu/2 ||w - w_start||^2), shuffled by a seeded generator; returns the last epoch's mean MSE."""
    generator = torch.Generator().manual_seed(seed)
    x_all, y_all = torch.from_numpy(np.ascontiguousarray(X, np.float32)), torch.from_numpy(np.ascontiguousarray(y, np.float32))
    params = [p for p in model.parameters() if p.requires_grad]
    anchor = [p.detach().clone() for p in params] if proximal_mu > 0 else None
    optimizer = torch.optim.Adam(params, lr=lr)
    model.train()
    n, last = len(y), float("nan")
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        total = 0.0
        for lo in range(0, n, batch_size):
            take = order[lo:lo + batch_size]
            mse = torch.mean((model(x_all[take]) - y_all[take]) ** 2)
            loss = mse
            if anchor is not None:
                loss = loss + 0.5 * proximal_mu * sum(torch.sum((p - a) ** 2) for p, a in zip(params, anchor))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(mse.detach()) * len(take)
        last = total / n
    model.eval()
    return last


def fit_keeping_zeros(model: torch.nn.Module, X: np.ndarray, y: np.ndarray, epochs: int, lr: float,
                      batch_size: int = 64, seed: int = 0) -> float:
    """``fit`` with each weight matrix's gradient masked by its nonzero entries, so pruned entries stay exactly 0
    (Adam started fresh never moves a weight whose gradient is always 0)."""
    handles = [p.register_hook(lambda g, m=(p.detach() != 0): g * m)
               for name, p in model.named_parameters() if "weight" in name]
    try:
        return fit(model, X, y, epochs, lr, batch_size=batch_size, seed=seed)
    finally:
        for h in handles:
            h.remove()


def train_local(arrays: list[np.ndarray], series: DeviceSeries, spec: ModelSpec, until_sim_hour: int,
                span_hours: int, epochs: int, lr: float, batch_size: int = 64, proximal_mu: float = 0.0,
                seed: int = 0, teacher: tuple[ModelSpec, list[np.ndarray], float] | None = None
                ) -> tuple[list[np.ndarray], int, float]:
    """Fine-tune ``arrays`` on the device's windows with targets in [until - span, until).

    ``teacher`` (spec, weights, alpha): distillation, the loss ``alpha MSE(s, y) + (1 - alpha) MSE(s, t)``
    with ``t`` the teacher's forecast, trained as MSE on ``alpha y + (1 - alpha) t`` (the same gradients:
    clients.compress). A spec with unstructured sparsity keeps its zeros (the gradients are masked).
    Returns (new arrays, number of training windows, mean MSE of the last epoch, against the trained target);
    with no valid window (or no epoch), the input arrays unchanged, 0 and NaN. Deterministic given ``seed``.
    """
    X, y = series.training_windows(until_sim_hour, span_hours, spec.window, spec.calendar)
    if len(y) == 0 or epochs <= 0:
        return [np.array(a, dtype=np.float32, copy=True) for a in arrays], 0, float("nan")
    if teacher is not None:
        teacher_spec, weights, alpha = teacher
        X_t, _ = series.training_windows(until_sim_hour, span_hours, teacher_spec.window, teacher_spec.calendar)
        soft = predict(serving_model(teacher_spec, weights, False), X_t)
        y = (alpha * y + (1.0 - alpha) * soft).astype(np.float32)
    model = build_model(spec, seed)
    set_arrays(model, arrays)
    if spec.sparsity:
        loss = fit_keeping_zeros(model, X, y, epochs, lr, batch_size, seed)
    else:
        loss = fit(model, X, y, epochs, lr, batch_size, proximal_mu, seed)
    return get_arrays(model), int(len(y)), loss
