"""Sensitivity end to end on a tiny scenario: the direction of a change, a ranking flip, common random numbers."""
from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from sim import scenario as scenarios
from sim.app import sensitivity as s
from sim.app.cli import app

# local inference at 2 MFLOP/s takes ~9 ms; the edge server at 2 MFLOP/s per core ~9 ms plus the WiFi round trip:
# the edge is slower at x1, faster at x4 (the constructed ranking flip), slower still at x0.5
TINY = {
    "name": "tiny", "seed": 0, "duration": "2min",
    "profiles": {"raspberry-pi-4": {"lstm_flops_per_s": 2e6}},
    "edge": {"speed": 2e6},
    "fleet": [{"profile": "raspberry-pi-4", "count": 2, "link": "wifi",
               "workload": {"kind": "poisson", "rate": "1/s", "deadline": "100ms"}}],
    "models": {"edge": {"hidden": 8, "layers": 1, "window": 24}},
    "federation": {"enabled": False, "pretrain": {"rounds": 0}},
}


@pytest.mark.slow
def test_edge_speed_moves_edge_latency_only_and_x4_flips_the_ranking(tmp_path):
    from sim.app.runner import run_scenario

    scenario = scenarios.parse(TINY, "tiny.yaml")
    constants = s.named_constants(scenario, ["edge.speed"])
    rows, flips = s.analyse(scenario, ["local", "edge"], [0, 1], constants, [0.5, 2.0, 4.0], tmp_path / "out",
                            parallel=False)
    value = {(r["factor"], r["policy"], r["metric"]): r["value"] for r in rows}
    base_edge, base_local = value[(1.0, "edge", "latency_mean_s")], value[(1.0, "local", "latency_mean_s")]
    assert value[(0.5, "edge", "latency_mean_s")] > base_edge > value[(2.0, "edge", "latency_mean_s")] \
        > value[(4.0, "edge", "latency_mean_s")]
    # edge compute is 17873 FLOP / speed: halving it from x2 to x4 saves about 17873 / 8e6 / 2 s per request
    saved = value[(2.0, "edge", "latency_mean_s")] - value[(4.0, "edge", "latency_mean_s")]
    assert saved == pytest.approx(17873 / 4e6 - 17873 / 8e6, rel=0.2)
    for factor in (0.5, 2.0, 4.0):  # the same seeds: local runs never touch the edge and are bit for bit equal
        assert value[(factor, "local", "latency_mean_s")] == base_local
        assert value[(factor, "local", "energy_per_request_j")] == value[(1.0, "local", "energy_per_request_j")]
    flipped = {(f["factor"], f["metric"]): f["flipped"] for f in flips}
    assert base_local < base_edge and value[(4.0, "edge", "latency_mean_s")] < base_local
    assert flipped[(4.0, "latency_mean_s")] and not flipped[(0.5, "latency_mean_s")]
    # the baseline is the scenario's own run: the same summary as `edgefed run` with that seed and policy
    plain = run_scenario(scenario, seed=1, policy="edge").summary
    stored = json.loads((tmp_path / "out" / "runs" / "tiny-edge-seed1" / "summary.json").read_text())
    assert stored["latency_mean_s"] == plain["latency_mean_s"]
    assert stored["energy_per_request_j"] == plain["energy_per_request_j"]
    with (tmp_path / "out" / "sensitivity.csv").open() as handle:
        header = next(csv.reader(handle))
    assert header == ["constant", "factor", "policy", "metric", "value", "ci", "baseline", "delta"]
    assert {p.name for p in (tmp_path / "out" / "plots").glob("*.png")} == {
        "tornado-latency_mean_s.png", "tornado-energy_per_request_j.png"}


@pytest.mark.slow
def test_the_command_runs_as_a_sweep_resumes_and_prints_80_columns(tmp_path):
    import yaml

    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    args = ["sensitivity", str(path), "--policies", "local,edge", "--no-assumed", "--vary", "edge.speed",
            "--factors", "4", "--seeds", "1", "--out", str(tmp_path / "out")]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    lines = first.stdout.splitlines()  # (stderr may carry Ray's own warnings)
    table = lines[next(i for i, l in enumerate(lines) if l.startswith("tiny: 1 constants")):
                  next(i for i, l in enumerate(lines) if l.startswith("change: from the baseline")) + 1]
    assert len(table) == 10 and max(len(line) for line in table) <= 80, table
    assert lines[-1].startswith("wrote ") and lines[-1].endswith("sensitivity.csv, ranking.csv and plots/tornado-*.png")
    assert "edge.speed = 2e+06 (named by the user)" in lines
    flagged = [line for line in lines if line.startswith("    x4  local")]  # the flip, on the factor's first line
    assert len(flagged) == 1 and flagged[0].endswith("  latency"), lines
    done = {p.name: (p / "summary.json").stat().st_mtime_ns for p in (tmp_path / "out" / "runs").iterdir()
            if (p / "summary.json").is_file()}
    assert len(done) == 4  # (baseline, x4) x (local, edge)
    second = CliRunner().invoke(app, args)
    assert second.exit_code == 0, second.output
    assert {n: (tmp_path / "out" / "runs" / n / "summary.json").stat().st_mtime_ns for n in done} == done
