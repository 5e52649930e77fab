"""`edgefed run` with output.stream: the streamed run directory equals the in-memory one (requests.parquet column
by column, summary.json figure by figure), and streaming is off unless asked for or the run is big."""
from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from sim import scenario as scenarios
from sim.app.runner import run_scenario, write_run
from sim.limits import AUTO_STREAM_ROWS
from sim.world import World

EXACT = ("requests", "served", "dropped", "unfinished", "share_by_target", "latency_mean_s", "latency_p95_s",
         "deadline_miss_rate", "forecast_scored", "device_energy_per_request_j", "device_energy_j", "fl_rounds")


def _scenario(stream: bool | None, requests: str = "all") -> scenarios.Scenario:
    workload = {"kind": "poisson", "rate": "1/s", "deadline": "200ms"}
    return scenarios.parse({
        "name": "stream-run", "seed": 3, "duration": "2h", "policy": {"name": "random"},
        "fleet": [{"profile": "smartphone", "count": 5, "link": "lte", "workload": workload, "battery": "300J"},
                  {"profile": "raspberry-pi-4", "count": 5, "link": "5g", "workload": workload}],
        "federation": {"enabled": False, "pretrain": {"rounds": 0}},
        "output": {"stream": stream, "requests": requests, "request_sample": 0.3, "links": False,
                   "battery": False}}, "stream-run")


def _run(tmp_path, name: str, stream: bool | None, requests: str = "all"):
    result = run_scenario(_scenario(stream, requests))
    out = write_run(result, tmp_path / name, plots=False)
    return pq.read_table(out / "requests.parquet"), json.loads((out / "summary.json").read_text()), out


@pytest.mark.parametrize("requests", ["all", "sample"])
def test_a_streamed_run_writes_the_same_requests_and_summary(tmp_path, requests):
    held, held_summary, held_dir = _run(tmp_path, "held", False, requests)
    streamed, summary, out = _run(tmp_path, "streamed", True, requests)
    assert pq.ParquetFile(out / "requests.parquet").num_row_groups > 1  # written a group at a time
    assert held.schema == streamed.schema and held.num_rows == streamed.num_rows > 5000
    for name in held.column_names:
        a, b = held.column(name), streamed.column(name)
        if a.type.equals(b.type) and str(a.type).startswith("dictionary"):  # the labels: target, model, dropped
            assert a.to_pylist() == b.to_pylist(), name
        else:  # bit for bit (NaN where NaN)
            np.testing.assert_array_equal(a.to_numpy().view(np.uint8), b.to_numpy().view(np.uint8), err_msg=name)
    assert np.isfinite(np.array(held.column("forecast_error").to_pylist(), float)).sum() > 1000  # scored
    assert set(summary) == set(held_summary)
    for key in EXACT + ("requests_written",):
        assert summary[key] == held_summary[key], key
    for key in ("energy_per_request_j", "bytes_offloaded", "forecast_mse", "forecast_mae", "persistence_mse",
                "persistence_mae"):  # float64 sums of groups vs the in-memory path's float32 sums
        assert summary[key] == pytest.approx(held_summary[key], rel=1e-6), key
    assert summary["forecast_mse_by_model"].keys() == held_summary["forecast_mse_by_model"].keys()
    assert (out / "devices.csv").read_text() == (held_dir / "devices.csv").read_text()
    assert not any(p.name.startswith("edgefed-spill") for p in tmp_path.iterdir())


def test_streaming_is_off_for_small_runs_unless_asked():
    assert World(_scenario(None)).spill is None
    assert World(_scenario(True)).spill is not None
    assert AUTO_STREAM_ROWS >= 10_000_000  # 45 bytes a row: a run streams above ~0.9 GB of table


def test_a_streamed_run_refuses_what_needs_the_whole_table():
    scenario = _scenario(True).model_copy(update={"output": _scenario(True).output.model_copy(
        update={"forecast_kwh": True})})
    with pytest.raises(scenarios.ScenarioError, match="output.stream"):
        run_scenario(scenario)
