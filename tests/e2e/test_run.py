"""Whole runs: through Flower, reproducible bit for bit, with a complete run directory."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from sim import scenario as scenarios
from sim.app.runner import run_scenario, write_run

ROOT = Path(__file__).resolve().parents[2]

TINY = {
    "name": "tiny",
    "seed": 7,
    "duration": "3h",
    "policy": {"name": "greedy"},
    "fleet": [
        {"profile": "raspberry-pi-4", "count": 3, "link": "wifi",
         "workload": {"kind": "poisson", "rate": "2/min", "deadline": "100ms"}},
        {"profile": "smartphone", "count": 2, "link": "lte",
         "workload": {"kind": "periodic", "rate": "1/min", "deadline": "300ms"}},
    ],
    "models": {"edge": {"hidden": 16}},
    "federation": {"enabled": True, "rounds": 2, "first_round_at": "20min", "every": "1h",
                   "clients_per_round": 3, "local_epochs": 2, "learning_rate": 0.01, "train_span": "14d",
                   "round_deadline": "5min"},
}


def tiny(**changes) -> scenarios.Scenario:
    data = yaml.safe_load(yaml.safe_dump(TINY))
    for key, value in changes.items():
        data[key] = value
    return scenarios.parse(data, "tiny")


@pytest.mark.slow
def test_federated_run_writes_complete_run_directory(tmp_path):
    out = tmp_path / "run"
    result = run_scenario(tiny())
    write_run(result, out)
    names = {p.name for p in out.iterdir()}
    assert {"scenario.yaml", "summary.json", "requests.parquet", "rounds.csv", "devices.csv", "plots"} <= names
    assert (out / "plots" / "latency_cdf.png").stat().st_size > 10_000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind
    summary = json.loads((out / "summary.json").read_text())
    assert summary["fl_rounds"] == 2 and summary["fl_aggregated_updates"] >= 2
    assert summary["requests"] == pq.read_metadata(out / "requests.parquet").num_rows > 100
    assert np.isfinite(summary["forecast_mse"]) and summary["forecast_scored"] > 100
    assert summary["forecast_mse"] < summary["persistence_mse"], summary
    versions = pq.read_table(out / "requests.parquet", columns=["model_version"])["model_version"].to_numpy()
    assert versions.max() == 2 and versions.min() == 0  # requests were served by three successive models
    assert scenarios.load(out / "scenario.yaml") == result.scenario


@pytest.mark.slow  # pretrains through Flower on Ray
def test_same_seed_same_results_without_federation(tmp_path):
    plain = tiny(federation={"enabled": False})
    first, second = run_scenario(plain), run_scenario(plain)
    assert first.summary == second.summary
    for name, column in first.requests.items():
        np.testing.assert_array_equal(column, second.requests[name], err_msg=name)
    other = run_scenario(plain, seed=8)
    assert other.summary["requests"] != first.summary["requests"] or other.summary != first.summary


@pytest.mark.slow
def test_same_seed_same_run_directory_through_flower(tmp_path):
    for name in ("a", "b"):
        write_run(run_scenario(tiny()), tmp_path / name, plots=False)
    assert (tmp_path / "a" / "summary.json").read_text() == (tmp_path / "b" / "summary.json").read_text()
    a = pq.read_table(tmp_path / "a" / "requests.parquet")
    b = pq.read_table(tmp_path / "b" / "requests.parquet")
    assert a.equals(b)
    assert (tmp_path / "a" / "rounds.csv").read_text() == (tmp_path / "b" / "rounds.csv").read_text()


@pytest.mark.slow  # pretrains through Flower in a subprocess: about 20 s
def test_cli_run_without_federation(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**TINY, "federation": {"enabled": False}}))
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "sim.app.cli", "run", str(path), "--out", str(out), "--policy", "local"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["policy"] == "local" and summary["share_by_target"]["local"] == 1.0
    assert "latency mean / p95" in done.stdout
