"""A streamed run's request table, one row group at a time: derive, score, write requests.parquet, summarise.

The world spilled its recorded columns as they became final (sim.spill); here each group gets its derived
columns (World.derive) and its forecast errors (the in-memory path's scorer, asked once for every distinct
forecast of the run), is appended to requests.parquet (REQUEST_COLUMNS, labelled), and is folded into the
summary's counts and sums.
Only the served requests' latencies are kept (4 bytes a request): the p95 is then exact, and so is the mean.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from clients.spec import MODEL_NAMES
from sim.app.summary import request_costs
from sim.forecasts import fill_errors, forecast_codes, score_codes
from sim.policies import TARGET_NAMES
from sim.recorder import SERVED, UNFINISHED
from sim.spill import row_groups


@dataclass
class Folded:
    """The summary's counts and sums over the groups seen so far (float sums in float64)."""

    n_devices: int
    requests: int = 0
    unfinished: int = 0
    latency: list = field(default_factory=list)  # the served requests' latencies, float32, group by group
    met: int = 0
    by_target: np.ndarray = field(default_factory=lambda: np.zeros(len(TARGET_NAMES), np.int64))
    energy_j: float = 0.0
    bytes_up: float = 0.0
    cost: float = 0.0  # summary.json's cost (sim.app.summary.request_costs), summed group by group
    scored: int = 0
    sums: dict = field(default_factory=lambda: dict.fromkeys(("sq", "abs", "base_sq", "base_abs"), 0.0))
    by_model: dict = field(default_factory=dict)  # model -> [sum of squared errors, scored, served]
    device_requests: np.ndarray | None = None
    device_served: np.ndarray | None = None

    def add(self, table: dict[str, np.ndarray]) -> None:
        served = table["dropped"] == SERVED
        latency = table["latency_s"][served]
        self.requests += len(served)
        self.unfinished += int(np.count_nonzero(table["dropped"] == UNFINISHED))
        self.latency.append(latency)
        self.met += int(np.count_nonzero(latency <= table["deadline_s"][served]))
        self.by_target += np.bincount(table["target"][served], minlength=len(TARGET_NAMES))[: len(TARGET_NAMES)]
        self.energy_j += float(np.sum(table["energy_compute_j"][served].astype(np.float64)
                                      + table["energy_radio_j"][served]))
        self.bytes_up += float(np.sum(table["bytes_up"][served], dtype=np.float64))
        self.cost += float(request_costs(table, served).sum())
        errors, baseline = table["forecast_error"][served], table["baseline_error"][served]
        both = np.isfinite(errors) & np.isfinite(baseline)
        e, b = errors[both].astype(np.float64), baseline[both].astype(np.float64)
        self.scored += int(both.sum())
        for key, values in (("sq", e ** 2), ("abs", np.abs(e)), ("base_sq", b ** 2), ("base_abs", np.abs(b))):
            self.sums[key] += float(values.sum())
        model = table["model"][served]
        for i in np.unique(model):
            mine = both & (model == i)
            tally = self.by_model.setdefault(int(i), [0.0, 0, 0])
            tally[0] += float((errors[mine].astype(np.float64) ** 2).sum())
            tally[1] += int(mine.sum())
            tally[2] += 1
        n = self.n_devices
        requests = np.bincount(table["device"], minlength=n)
        served_by_device = np.bincount(table["device"][served], minlength=n)
        self.device_requests = requests if self.device_requests is None else self.device_requests + requests
        self.device_served = served_by_device if self.device_served is None else self.device_served + served_by_device

    def summary(self) -> dict:
        """summarize()'s request keys: counts, shares, p95 and the latency mean exactly as in memory; the other
        means from float64 sums (the in-memory path sums float32 columns: they agree to float32 precision)."""
        latency = np.concatenate(self.latency) if self.latency else np.zeros(0, np.float32)
        count = len(latency)
        scored = self.scored

        def mean(total: float, k: int) -> float | None:
            return total / k if k else None

        return {
            "requests": self.requests, "served": count, "dropped": self.requests - count - self.unfinished,
            "unfinished": self.unfinished,
            "share_by_target": {name: float(self.by_target[i] / count) if count else 0.0
                                for i, name in enumerate(TARGET_NAMES)},
            "latency_mean_s": float(latency.mean()) if count else None,
            "latency_p95_s": float(np.percentile(latency, 95)) if count else None,
            "deadline_miss_rate": float(1.0 - self.met / count) if count else None,
            "energy_per_request_j": mean(self.energy_j, count),
            "bytes_offloaded": self.bytes_up, "cost": self.cost, "forecast_scored": scored,
            "forecast_mse": mean(self.sums["sq"], scored), "forecast_mae": mean(self.sums["abs"], scored),
            "persistence_mse": mean(self.sums["base_sq"], scored),
            "persistence_mae": mean(self.sums["base_abs"], scored),
            "forecast_mse_by_model": {MODEL_NAMES[i]: mean(t[0], t[1]) for i, t in sorted(self.by_model.items())},
        }


def finish(world, evaluate, int8: bool, written: Callable[[np.ndarray], np.ndarray | None], out: Path,
           labels: dict) -> tuple[Folded, int]:
    """Every spilled group of `world` derived, scored, folded and (the rows `written` keeps) appended to
    `out`; returns the folded figures and the rows written."""
    import pyarrow.parquet as pq

    from sim.app.output import labelled_table

    folded, writer, rows_written = Folded(world.n_devices), None, 0
    # every group's forecasts first, scored in one pass over whole devices: scoring group by group would load
    # each device's series (and build its windows) once per group it appears in
    codes = np.unique(np.concatenate([np.unique(forecast_codes(world.derive(recorded), int8)[1])
                                      for recorded in row_groups(world.spill.path)] or [np.zeros(0, np.int64)]))
    errors, baseline = score_codes(codes, evaluate, world.weights())
    for recorded in row_groups(world.spill.path):
        table = world.derive(recorded)
        table["forecast_error"], table["baseline_error"] = (table[k].copy() for k in ("forecast_error", "baseline_error"))
        rows, mine = forecast_codes(table, int8)
        fill_errors(table, rows, np.searchsorted(codes, mine), errors, baseline)
        folded.add(table)
        keep = written(table["device"])
        part = table if keep is None else {k: v[keep] for k, v in table.items()}
        arrow = labelled_table(part, labels)
        if writer is None:
            writer = pq.ParquetWriter(out, arrow.schema, compression="zstd")
        if arrow.num_rows or rows_written == 0:
            writer.write_table(arrow)
        rows_written += arrow.num_rows
    if writer is not None:
        writer.close()
    return folded, rows_written
