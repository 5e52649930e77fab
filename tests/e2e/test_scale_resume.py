"""A sweep whose runs stream their request table, killed mid-run (SIGKILL) and started again, redoes only the
runs that had not finished: finished run directories are not touched, the killed run leaves no run directory."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from sim.app import sweep

ROOT = Path(__file__).resolve().parents[2]
STREAMED = {
    "name": "streamed", "seed": 0, "duration": "40min",
    "fleet": [{"profile": "raspberry-pi-4", "count": 20, "link": "wifi",
               "workload": {"kind": "poisson", "rate": "2/s", "deadline": "100ms"}}],
    "models": {"edge": {"hidden": 8, "layers": 1, "window": 24}},
    "federation": {"enabled": False, "pretrain": {"rounds": 0}},
    "output": {"stream": True, "links": False, "battery": False},
}


def _summaries(out: Path) -> dict[str, int]:
    return {p.name: (p / "summary.json").stat().st_mtime_ns for p in out.iterdir()
            if p.is_dir() and (p / "summary.json").is_file()}


@pytest.mark.slow
def test_a_killed_streaming_sweep_redoes_only_the_unfinished_runs(tmp_path):
    (tmp_path / "streamed.yaml").write_text(yaml.safe_dump(STREAMED))
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({"out": "out", "scenarios": ["streamed.yaml"], "policies": ["local", "edge"],
                                    "seeds": 2}))
    out = tmp_path / "out"
    spills = tmp_path / "tmp"
    spills.mkdir()
    code = f"from sim.app import sweep; sweep.run_sweep({str(path)!r}, parallel=False)"
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, start_new_session=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(spills)})
    try:
        deadline = time.monotonic() + 300
        while len(_summaries(out) if out.is_dir() else {}) < 2 or not list(spills.glob("edgefed-spill-*")):
            assert child.poll() is None and time.monotonic() < deadline, "the sweep ended before it was killed"
            time.sleep(0.05)
        os.killpg(child.pid, signal.SIGKILL)  # mid-run: the third run is streaming into its spill
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    before = _summaries(out)
    assert 2 <= len(before) < 4
    assert list(spills.glob("edgefed-spill-*"))  # it was killed while a run was streaming

    again = sweep.run_sweep(path, parallel=False)
    assert (again.total, again.skipped, again.ran, again.failed) == (4, len(before), 4 - len(before), [])
    after = _summaries(out)
    assert len(after) == 4 and {k: after[k] for k in before} == before  # the finished runs were not redone
    assert not [p for p in out.iterdir() if p.is_dir() and p.name.startswith(".")]  # no staging directory left
    for run in out.iterdir():
        if run.is_dir():
            assert pq.ParquetFile(run / "requests.parquet").num_row_groups > 1  # these runs streamed
