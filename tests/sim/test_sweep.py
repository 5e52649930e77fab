"""Sweeps expand a grid into deterministic run directories, skip finished runs, redo interrupted ones, aggregate."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sim.app import sweep

ROOT = Path(__file__).resolve().parents[2]

TINY = {
    "name": "tiny", "seed": 0, "duration": "3min",
    "fleet": [{"profile": "raspberry-pi-4", "count": 2, "link": "wifi",
               "workload": {"kind": "poisson", "rate": "1/s", "deadline": "100ms"}}],
    "models": {"edge": {"hidden": 8, "layers": 1, "window": 24}},
    "federation": {"enabled": False, "pretrain": {"rounds": 0}},
}


def _sweep_file(tmp_path: Path, **changes) -> Path:
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    spec = {"out": "out", "scenarios": ["tiny.yaml"], "policies": ["local", "cloud"], "seeds": 2}
    spec.update(changes)
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _mtimes(out: Path) -> dict[str, int]:
    return {p.name: (p / "summary.json").stat().st_mtime_ns for p in out.iterdir() if p.is_dir()}


def test_grid_expands_with_deterministic_names(tmp_path):
    path = _sweep_file(tmp_path, policies=["greedy", {"name": "random", "params": {"p_local": [0.2, 0.8],
                                                                                  "p_edge": 1}}], seeds=[3, 5])
    out, runs = sweep.load(path)
    assert out == tmp_path / "out"
    assert sorted(r.path.name for r in runs) == sorted([
        "tiny-greedy-seed3", "tiny-greedy-seed5", "tiny-random-p_edge=1-p_local=0.2-seed3",
        "tiny-random-p_edge=1-p_local=0.2-seed5", "tiny-random-p_edge=1-p_local=0.8-seed3",
        "tiny-random-p_edge=1-p_local=0.8-seed5"])
    assert {r.scenario.seed for r in runs} == {3, 5}
    assert not any(r.needs_flower for r in runs)


@pytest.mark.parametrize("changes, expected", [
    ({"seedz": 2}, "sweep.yaml: seedz: unknown key; allowed: name, out, scenarios"),
    ({"policies": ["nope"]}, "sweep.yaml: policies[0]: policy.name: unknown policy 'nope'"),
    ({"policies": [{"name": "random", "params": {"q": [1, 2]}}]}, "sweep.yaml: policies[0]: policy.params: "),
    ({"policies": [{"name": "local", "param": {}}]}, "sweep.yaml: policies[0].param: unknown key; allowed: name, params"),
    # the members of a union that all refused the value make one line (sim.errors, the scenario files' formatter)
    ({"policies": [{"name": "random", "params": {"p_local": {"a": 1}}}]}, "sweep.yaml: policies[0].params.p_local: "
     "must be a number or an integer or a string or true or false or a list, got {'a': 1}"),
    ({"seeds": 0}, "sweep.yaml: seeds: a seed count must be between 1 and 10000"),
    ({"overrides": {"duration": "-1s"}}, "sweep.yaml: overrides: duration: "),
    ({"overrides": {"fleet": "x"}}, "sweep.yaml: overrides: fleet: "),
    ({"scenarios": ["missing.yaml"]}, "sweep.yaml: scenarios[0]: "),
])
def test_bad_sweep_files_give_one_line_errors(tmp_path, changes, expected):
    with pytest.raises(sweep.SweepError) as info:
        sweep.load(_sweep_file(tmp_path, **changes))
    lines = str(info.value).splitlines()
    assert lines and all(line.startswith(str(tmp_path / "sweep.yaml") + ": ") for line in lines)
    assert any(expected.replace("sweep.yaml", str(tmp_path / "sweep.yaml")) in line for line in lines), lines


def test_sweep_skips_finished_and_redoes_interrupted_runs(tmp_path):
    path = _sweep_file(tmp_path)
    first = sweep.run_sweep(path, parallel=False)
    out = tmp_path / "out"
    assert (first.total, first.skipped, first.ran, first.failed) == (4, 0, 4, [])
    before = _mtimes(out)
    assert sorted(before) == ["tiny-cloud-seed0", "tiny-cloud-seed1", "tiny-local-seed0", "tiny-local-seed1"]

    second = sweep.run_sweep(path, parallel=False)
    assert (second.skipped, second.ran) == (4, 0)
    assert _mtimes(out) == before

    # an interruption: one run never finished, and a killed writer left its staging directory
    import shutil
    shutil.rmtree(out / "tiny-cloud-seed1")
    staging = out / ".tiny-cloud-seed1.tmp-abc123"
    staging.mkdir()
    (staging / "summary.json").write_text("{}")
    third = sweep.run_sweep(path, parallel=False)
    assert (third.skipped, third.ran, third.removed_staging) == (3, 1, 1)
    assert not staging.exists()
    after = _mtimes(out)
    assert {k: v for k, v in after.items() if k != "tiny-cloud-seed1"} == \
        {k: v for k, v in before.items() if k != "tiny-cloud-seed1"}
    assert {p.name for p in (out / "tiny-cloud-seed1").iterdir()} >= {"devices.csv", "requests.parquet", "rounds.csv",
                                                                      "scenario.yaml", "summary.json"}
    rows = list(csv.DictReader((out / "sweep.csv").open()))
    assert [(r["scenario"], r["policy"], r["seeds"]) for r in rows] == [("tiny", "local", "2"), ("tiny", "cloud", "2")]
    for metric in sweep.METRICS:
        assert f"{metric}_mean" in rows[0] and f"{metric}_ci95" in rows[0]
    assert float(rows[0]["latency_mean_s_mean"]) < float(rows[1]["latency_mean_s_mean"])  # local beats cloud here
    assert float(rows[1]["latency_mean_s_ci95"]) >= 0
    assert not list(out.glob(".sweep.csv.tmp-*"))


def test_changed_sweep_does_not_reuse_runs_of_another_scenario(tmp_path):
    path = _sweep_file(tmp_path, policies=["local"], seeds=1)
    sweep.run_sweep(path, parallel=False)
    changed = _sweep_file(tmp_path, policies=["local"], seeds=1, overrides={"duration": "2min"})
    with pytest.raises(sweep.SweepError, match="different scenario"):
        sweep.run_sweep(changed, parallel=False)


@pytest.mark.slow  # starts a local Ray
def test_sweep_on_local_ray(tmp_path):
    """The same grid through Ray tasks (local Ray, 2 CPUs); one start of Ray (about 6-8 s)."""
    path = _sweep_file(tmp_path)
    report = sweep.run_sweep(path, parallel=True, num_cpus=2)
    assert (report.total, report.ran, report.failed) == (4, 4, [])
    assert len(list(csv.DictReader((tmp_path / "out" / "sweep.csv").open()))) == 2
    again = sweep.run_sweep(path, parallel=True, num_cpus=2)  # nothing to do: Ray is not even started
    assert (again.skipped, again.ran) == (4, 0)


def test_cli_bad_sweep_file_exit_2_without_traceback(tmp_path):
    path = _sweep_file(tmp_path, seeds="many")
    proc = subprocess.run([sys.executable, "-m", "sim.app.sweep", str(path)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, env={**os.environ, "FLWR_TELEMETRY_ENABLED": "0"})
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"error: {path}: seeds: ")


@pytest.mark.slow
def test_sigint_keeps_finished_runs_and_leaves_nothing_half_written(tmp_path):
    """Ctrl-C in the middle of a Ray sweep: exit 130 with one message; only complete run directories remain."""
    import signal
    import time

    long = dict(TINY, duration="30min", fleet=[dict(TINY["fleet"][0], count=20, workload={
        "kind": "poisson", "rate": "10/s", "deadline": "100ms"})])
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(long))
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({"out": "out", "scenarios": ["tiny.yaml"], "policies": ["local", "cloud"],
                                    "seeds": 3}))
    # as from a terminal: a test runner started in the background inherits SIGINT ignored, and Python then
    # never installs its Ctrl-C handler in the child
    proc = subprocess.Popen([sys.executable, "-m", "sim.app.sweep", str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "FLWR_TELEMETRY_ENABLED": "0"},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    out = tmp_path / "out"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not list(out.glob("*/summary.json")):  # one finished, others in flight
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("interrupted: ")
    assert not list(out.glob(".*.tmp-*")) and not list(out.glob(".*.old-*"))
    for run in (p for p in out.iterdir() if p.is_dir()):
        assert {"scenario.yaml", "summary.json", "requests.parquet", "devices.csv"} <= {p.name for p in run.iterdir()}
    report = sweep.run_sweep(path, parallel=False)  # the rest, in-process
    assert report.skipped + report.ran == 6 and report.ran >= 1
