"""A tiny synthetic run directory (every file a run writes) and a 2-policy x 2-seed comparison, without simulating."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

PROFILES = ["raspberry-pi-4", "raspberry-pi-4", "smartphone", "smartphone"]  # devices 0..3; device 3 dies
DURATION_S = 3 * 3600.0
DEATH_S = 7000.0


def _csv(path: Path, header: list[str], rows: list[list]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def make_run(path: Path, policy: str = "greedy", seed: int = 0, v: float | None = None,
             latency_scale: float = 1.0) -> Path:
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True)
    n = 300
    device = rng.integers(0, 4, n).astype(np.int32)
    target = rng.choice(np.array([0, 1, 2], np.int8), n)
    parts = {p: rng.uniform(0.1e-3, 5e-3, n).astype(np.float32) for p in ("queue", "transfer", "compute",
                                                                           "propagation")}
    latency = sum(parts.values()) * latency_scale
    arrival = np.sort(rng.uniform(0, DURATION_S, n))
    dropped = ((device == 3) & (arrival > DEATH_S)).astype(np.int8)
    error = rng.normal(0, 1, n).astype(np.float32)
    error[:10] = np.nan
    pq.write_table(pa.table({
        "arrival_s": arrival, "device": device, "target": target, "model_version": (arrival > 2400).astype(np.int16),
        "latency_s": latency.astype(np.float32), **{f"{p}_s": v_ for p, v_ in parts.items()},
        "energy_compute_j": rng.uniform(0, 0.1, n).astype(np.float32),
        "energy_radio_j": rng.uniform(0, 0.1, n).astype(np.float32), "bytes_up": np.full(n, 1e3, np.float32),
        "dropped": dropped, "forecast_error": error, "baseline_error": rng.normal(0, 1.2, n).astype(np.float32),
        "hour": (arrival // 3600).astype(np.int32), "deadline_s": np.full(n, 0.1, np.float32)}),
        path / "requests.parquet")
    served = dropped == 0
    summary = {"policy": policy, "seed": seed, "scenario": "tiny", "simulated_s": DURATION_S, "requests": n,
               "served": int(served.sum()), "latency_mean_s": float(latency[served].mean()),
               "latency_p95_s": float(np.percentile(latency[served], 95)),
               "deadline_miss_rate": float(rng.uniform(0, 0.1)), "energy_per_request_j": float(rng.uniform(0.01, 0.05)),
               "forecast_mse": float(rng.uniform(0.5, 1.0))}
    (path / "summary.json").write_text(json.dumps(summary))
    params = f"{{V: {v}}}" if v is not None else "{}"
    (path / "scenario.yaml").write_text(f"name: tiny\nseed: {seed}\npolicy:\n  name: {policy}\n  params: {params}\n")
    comps = ["compute", "radio_tx", "radio_rx", "radio_tail", "idle"]
    _csv(path / "devices.csv",
         ["device", "group", "profile", "link", "requests", "served", "battery_j", "death_s", "model_version"]
         + [f"energy_{c}_j" for c in comps] + ["energy_total_j"],
         [[d, int(p == "smartphone"), p, "wifi" if p != "smartphone" else "lte", int(np.sum(device == d)),
           int(np.sum(served & (device == d))), 30.0 if p == "smartphone" else "", DEATH_S if d == 3 else "", 1]
          + [0.5 * (i + 1) for i in range(5)] + [7.5] for d, p in enumerate(PROFILES)])
    _csv(path / "rounds.csv", ["phase", "round", "start_s", "deadline_s", "selected", "aggregated", "stragglers",
                               "failed", "model_version", "train_loss", "upload_bytes"],
         [["pretrain", 1, 0, 0, 4, 4, 0, 0, 0, 1.0, 0], ["deploy", 1, 600, 900, 3, 2, 1, 0, 1, 0.9, 2e5],
          ["deploy", 2, 4200, 4500, 3, 2, 0, 1, 2, 0.8, 2e5]])
    times = np.arange(36.0, DURATION_S + 1, 36.0)
    links = ["raspberry-pi-4/wifi/up", "raspberry-pi-4/wifi/down", "smartphone/lte/up", "wan/down"]
    _csv(path / "links.csv", ["time_s", "link", "utilisation", "throughput_bps"],
         [[t, name, float(rng.uniform(0, 0.3)), float(rng.uniform(0, 1e6))] for t in times for name in links])
    soc = np.clip(1 - times / DEATH_S, 0, 1)
    _csv(path / "battery.csv", ["time_s", "group", "profile", "soc_median", "soc_min", "soc_max", "alive"],
         [[t, 1, "smartphone", s, max(s - 0.05, 0), min(s + 0.05, 1), 2 if t < DEATH_S else 1]
          for t, s in zip(times, soc)])
    _csv(path / "round_clients.csv", ["round", "device", "profile", "status", "start_s", "download_end_s",
                                      "train_start_s", "train_end_s", "upload_end_s", "deadline_s"],
         [[1, 0, "raspberry-pi-4", "aggregated", 600, "nan", 600, 650, 660, 900],
          [1, 2, "smartphone", "aggregated", 600, 610, 610, 700, 720, 900],
          [1, 3, "smartphone", "straggler", 600, 620, 620, 800, 950, 900],
          [2, 0, "raspberry-pi-4", "aggregated", 4200, 4210, 4210, 4260, 4270, 4500],
          [2, 1, "raspberry-pi-4", "failed", 4200, "", "", "", "", 4500],
          [2, 3, "smartphone", "dropout", 4200, 4230, 4230, "", "", 4500]])
    _csv(path / "versions.csv", ["model", "model_version", "held_out_hours", "devices", "forecasts", "mse", "mae",
                                 "persistence_mse"],
         [["edge", v, 48, 4, 192, 0.9 - 0.05 * v, 0.6, 1.2] for v in range(3)] + [["cloud", 0, 48, 4, 192, 0.7, 0.5, 1.2]])
    return path


@pytest.fixture(scope="session")
def make_run_dir():
    """make_run itself, for tests that need runs of their own."""
    return make_run


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("runs") / "tiny-greedy-seed0")


@pytest.fixture(scope="session")
def comparison_dirs(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("cmp") / "runs"
    return [make_run(root / f"{policy}-seed{seed}", policy, seed, latency_scale=scale)
            for policy, scale in (("local", 1.0), ("edge", 2.0)) for seed in (1, 2)]
