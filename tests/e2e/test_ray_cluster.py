"""A sweep through `edgefed sweep --address` spreads its runs over a two-node Ray cluster on 127.0.0.1."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TINY = {
    "name": "tiny", "seed": 0, "duration": "2min",
    "fleet": [{"profile": "raspberry-pi-4", "count": 2, "link": "wifi",
               "workload": {"kind": "poisson", "rate": "1/s", "deadline": "100ms"}}],
    "models": {"edge": {"hidden": 8, "layers": 1, "window": 24}},
    "federation": {"enabled": False, "pretrain": {"rounds": 0}},
}


def _cluster_processes(session_dir: str, before: set[int]) -> list[psutil.Process]:
    """Every live process of this cluster: children of this test started since `before` (the pids of the
    children it already had: a pytest worker may keep one, such as multiprocessing's resource tracker), or
    anything naming its session directory."""
    found = {p.pid: p for p in psutil.Process().children(recursive=True) if p.pid not in before}
    for proc in psutil.process_iter(["cmdline"]):
        if session_dir in " ".join(proc.info["cmdline"] or []):
            found[proc.pid] = proc
    return [p for p in found.values() if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


@pytest.mark.slow  # starts two Ray nodes (about 20-40 s here)
def test_sweep_runs_on_both_nodes_of_a_two_node_cluster(tmp_path, monkeypatch):
    from ray.cluster_utils import Cluster

    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(
        {"out": "out", "scenarios": ["tiny.yaml"], "policies": ["local", "cloud"], "seeds": 2}))
    # on Linux a Ray driver rewrites 127.0.0.1 to the machine's own address, where this loopback-only cluster
    # does not listen; this switch (Ray's, for one-machine clusters) keeps the driver on loopback
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FLWR_TELEMETRY_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # the cluster below, never one found on the machine
    env.pop("RAY_ADDRESS", None)
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "resources": {"head": 1}, "node_ip_address": "127.0.0.1", "include_dashboard": False})
    session_dir = cluster.head_node.get_session_dir_path()
    try:
        cluster.add_node(num_cpus=1, resources={"worker2": 1}, node_ip_address="127.0.0.1")
        cluster.wait_for_nodes(timeout=60)
        assert cluster.address.startswith("127.0.0.1:")
        done = subprocess.run([sys.executable, "-m", "sim.app.cli", "sweep", str(tmp_path / "sweep.yaml"),
                               "--address", cluster.address], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr
        rows = list(csv.DictReader((tmp_path / "out" / "runs.csv").open()))
        assert len(rows) == 4 and all(r["done"] == "True" for r in rows)
        nodes = {r["ray_node"] for r in rows}
        assert nodes == {n.node_id for n in cluster.list_all_nodes()}, rows  # both nodes, and only these two
        assert len({r["pid"] for r in rows}) >= 2
    finally:
        cluster.shutdown()
        deadline = time.monotonic() + 30
        while _cluster_processes(session_dir, before) and time.monotonic() < deadline:
            time.sleep(0.5)
        left = _cluster_processes(session_dir, before)
        for proc in left:  # never leave one behind, even when the assertion below fails
            proc.kill()
    assert not left, [p.cmdline() for p in left]
