"""manifest.json: every run directory says what produced it, and its scenario hash is the hash of its scenario.yaml."""
from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from sim.app.manifest import git_commit, manifest

ROOT = Path(__file__).resolve().parents[2]
TINY = {
    "name": "tiny", "seed": 7, "duration": "10s", "policy": {"name": "local"},
    "fleet": [{"profile": "raspberry-pi-4", "count": 1, "link": "wifi",
               "workload": {"kind": "poisson", "rate": "1/s", "deadline": "1s"}}],
    "models": {"edge": {"hidden": 8, "layers": 1, "window": 24}},
    "federation": {"enabled": False, "pretrain": {"rounds": 0}},
}


def test_cli_run_writes_a_manifest_matching_its_scenario_yaml(tmp_path):
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "sim.app.cli", "run", str(scenario), "--out", str(out),
                           "--no-plots"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin:/usr/local/bin"})
    assert done.returncode == 0, done.stderr
    found = json.loads((out / "manifest.json").read_text())
    assert found["scenario_sha256"] == "sha256:" + hashlib.sha256((out / "scenario.yaml").read_bytes()).hexdigest()
    assert found["seed"] == 7
    assert found["python"] == platform.python_version()
    assert found["packages"]["numpy"] == np.__version__
    assert 0 < found["wall_s"] < 300
    assert found["command"][1:] == ["run", str(scenario), "--out", str(out), "--no-plots"]
    assert found["platform"] == platform.platform()


def test_scenario_hash_changes_with_one_character_and_not_otherwise():
    a = manifest("seed: 1\n", 1, 1.0, argv=["edgefed"])
    assert a["scenario_sha256"] == manifest("seed: 1\n", 1, 2.0, argv=["x"])["scenario_sha256"]
    assert a["scenario_sha256"] != manifest("seed: 2\n", 1, 1.0, argv=["edgefed"])["scenario_sha256"]
    assert a["scenario_sha256"] == "sha256:" + hashlib.sha256(b"seed: 1\n").hexdigest()


def test_git_commit_is_the_checkouts_head(tmp_path):
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:
        assert git_commit(ROOT).split("+")[0] == head.stdout.strip()
    assert git_commit(tmp_path) is None  # not a checkout: no commit, no error
