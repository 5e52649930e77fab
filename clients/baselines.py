"""The data README's reference protocol: naive baselines and a centrally trained LSTM on calendar 2013.

Protocol: the households with < 1% missing hours in 2013 (40), each household's 8,760 hours split
in time order 70/10/20 (train/validation/test), gaps of <= 2 hours interpolated, z-scored with the
household's training-part statistics; a sample is the 24 hours before a target hour and the
target itself; a sample belongs to the split of its target hour (inputs may reach back into the
previous split, as they would in deployment); samples touching a longer gap are dropped. Errors
are pooled over all test samples of all households, in z-scored units. Persistence gives MSE
1.221 / MAE 0.560 and same-hour-yesterday 1.355 / 0.592, as in the data README.

The central LSTM is a pooled model over all households' training samples, the upper reference a
federated fleet can approach. To stay near a minute on two cores, each epoch trains on a fresh
random subsample of ``samples_per_epoch`` training samples (seeded); the epoch with the best
validation MSE is the one tested. ``train_reference`` is that loop for any ``ModelSpec`` (calendar
features included: ``reference_inputs`` adds them from each sample's target hour).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from clients.data import _DOW_COS, _DOW_SIN, _HOD_COS, _HOD_SIN, _household_raw, eligible_households, \
    interpolate_short_gaps
from clients.forecast import predict
from clients.model import ModelSpec, build_model

SPLIT_FRACTIONS = (0.7, 0.1, 0.2)
REFERENCE_WINDOW = 24


@dataclass(frozen=True)
class ReferenceSplit:
    """Pooled samples of one split: X [n, window] (z-scored), y [n], and each target's hour (hours since 1970)."""

    X: np.ndarray
    y: np.ndarray
    target_hours: np.ndarray | None = None


def reference_inputs(split: ReferenceSplit, calendar: bool = False) -> np.ndarray:
    """Model inputs [n, window, F] of a split: the z-scored kWh, plus the calendar features of ``clients.data``."""
    if not calendar:
        return split.X[:, :, None]
    if split.target_hours is None:
        raise ValueError("calendar features need the split's target_hours")
    window = split.X.shape[1]
    hours = split.target_hours[:, None] + np.arange(-window, 0)
    hod, dow = hours % 24, (hours // 24 + 3) % 7  # as clients.data._calendar: 0 = Monday
    return np.stack([split.X, _HOD_SIN[hod], _HOD_COS[hod], _DOW_SIN[dow], _DOW_COS[dow]], axis=-1).astype(np.float32)


def reference_splits(start: str = "2013-01-01", end: str = "2014-01-01",
                     window: int = REFERENCE_WINDOW) -> dict[str, ReferenceSplit]:
    """Train/val/test samples of the reference protocol, pooled over the eligible households."""
    lo, hi = np.datetime64(start, "h"), np.datetime64(end, "h")
    hours = int((hi - lo).astype(np.int64))
    n_train, n_val = int(SPLIT_FRACTIONS[0] * hours), int(SPLIT_FRACTIONS[1] * hours)
    bounds = {"train": (window, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, hours)}
    parts: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {k: [] for k in bounds}
    lo_hour = lo.astype(np.int64)
    for column in eligible_households(0.01, start, end):
        first, raw = _household_raw(column)
        begin = int((lo - first).astype(np.int64))
        kwh = interpolate_short_gaps(raw[begin:begin + hours])
        z = (kwh - np.nanmean(kwh[:n_train])) / np.nanstd(kwh[:n_train])
        for name, (a, b) in bounds.items():
            targets = np.arange(max(a, window), b)
            x, y = z[targets[:, None] + np.arange(-window, 0)], z[targets]
            ok = ~np.isnan(x).any(axis=1) & ~np.isnan(y)
            parts[name].append((x[ok].astype(np.float32), y[ok].astype(np.float32), lo_hour + targets[ok]))
    return {name: ReferenceSplit(np.concatenate([p[0] for p in ps]), np.concatenate([p[1] for p in ps]),
                                 np.concatenate([p[2] for p in ps]))
            for name, ps in parts.items()}


def _scores(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    d = pred.astype(np.float64) - y
    return {"mse": float(np.mean(d ** 2)), "mae": float(np.mean(np.abs(d)))}


def naive_reference(splits: dict[str, ReferenceSplit] | None = None) -> dict[str, dict[str, float]]:
    """Test MSE/MAE of persistence (last hour) and same hour yesterday; cheap (< 1 s)."""
    test = (splits or reference_splits())["test"]
    return {"persistence": _scores(test.X[:, -1], test.y), "yesterday": _scores(test.X[:, -24], test.y)}


def scores(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """MSE and MAE of predictions against targets (float64 sums)."""
    return _scores(pred, y)


def train_reference(spec: ModelSpec, splits: dict[str, ReferenceSplit], epochs: int, samples_per_epoch: int,
                    lr: float = 3e-3, batch_size: int = 256, seed: int = 0, val_samples: int | None = None
                    ) -> tuple[torch.nn.Module, float]:
    """Adam on MSE over the pooled training split, a fresh seeded subsample of ``samples_per_epoch`` per epoch.

    Returns the model at the epoch with the best validation MSE and that MSE. ``val_samples`` scores
    epochs on a fixed seeded subsample of the validation split (for large models); None uses all of it.
    """
    model = build_model(spec, seed)
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    train, val = splits["train"], splits["val"]
    x_train = reference_inputs(train, spec.calendar)
    x_val, y_val = reference_inputs(val, spec.calendar), val.y
    if val_samples is not None and val_samples < len(y_val):
        keep = np.sort(np.random.default_rng(seed + 1).choice(len(y_val), size=val_samples, replace=False))
        x_val, y_val = x_val[keep], y_val[keep]
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    best_val, best_state = np.inf, None
    for _ in range(epochs):
        chosen = rng.choice(len(train.y), size=min(samples_per_epoch, len(train.y)), replace=False)
        x_all, y_all = torch.from_numpy(x_train[chosen]), torch.from_numpy(train.y[chosen])
        model.train()
        order = torch.randperm(len(chosen), generator=generator)
        for lo in range(0, len(chosen), batch_size):
            take = order[lo:lo + batch_size]
            loss = torch.mean((model(x_all[take]) - y_all[take]) ** 2)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        val_mse = _scores(predict(model, x_val), y_val)["mse"]
        if val_mse < best_val:
            best_val, best_state = val_mse, {k: v.clone() for k, v in model.state_dict().items()}
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return model, float(best_val)


def evaluate_reference(hidden: int = 32, epochs: int = 10, seed: int = 0, samples_per_epoch: int = 120_000,
                       lr: float = 3e-3, batch_size: int = 256, verbose: bool = True,
                       splits: dict[str, ReferenceSplit] | None = None) -> dict:
    """Naive baselines and a centrally trained LSTM on the reference protocol (about a minute on 2 cores)."""
    t_start = time.perf_counter()
    splits = splits or reference_splits()
    result: dict = dict(naive_reference(splits))
    spec = ModelSpec(cell="lstm", hidden=hidden, window=REFERENCE_WINDOW)
    model, best_val = train_reference(spec, splits, epochs, samples_per_epoch, lr, batch_size, seed)
    test = splits["test"]
    result[f"lstm_h{hidden}"] = _scores(predict(model, test.X[:, :, None]), test.y) | {"val_mse": best_val}
    result["samples"] = {name: int(len(s.y)) for name, s in splits.items()}
    result["seconds"] = time.perf_counter() - t_start
    if verbose:
        for name in ("persistence", "yesterday", f"lstm_h{hidden}"):
            print(f"{name:>12}: MSE {result[name]['mse']:.3f}  MAE {result[name]['mae']:.3f}")
        print(f"{'took':>12}: {result['seconds']:.1f} s")
    return result


if __name__ == "__main__":
    evaluate_reference()
