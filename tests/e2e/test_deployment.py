"""A Deployment Engine on 127.0.0.1: flower-superlink, two flower-supernodes and `flwr run` of the quickstart.

Everything runs insecure on free local ports with its own FLWR_HOME, pretrain cache and run directory in tmp_path;
every process is started in its own process group and killed in the finally. A SuperNode starts a fresh
flwr-clientapp process (torch and all) for every message, so the scenario is the quickstart cut to two devices,
one per SuperNode, edge model only, no pretraining: four messages per node (query, train, two evaluates), the
two nodes in parallel.
"""
from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import psutil
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BUDGET_S = 170.0  # the whole test: SuperLink, SuperNodes and the run


def console_script_path(name: str) -> str:
    """Where the console script `name` is installed: beside this interpreter, or where pip put Flower's scripts."""
    import shutil
    import sysconfig

    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts")), Path(sys.base_prefix) / "bin"):
        if (folder / name).is_file():
            return str(folder / name)
    return shutil.which(name) or name


def console_script(name: str) -> list[str]:
    """The command line of an installed console script, run by this interpreter: its entry point, wherever pip put
    the script (a virtual environment with system site packages keeps them outside its own bin/)."""
    from importlib.metadata import entry_points

    (entry,) = entry_points(group="console_scripts", name=name)
    return [sys.executable, "-c", f"import sys; from {entry.module} import {entry.attr}; sys.exit({entry.attr}())"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _scenario(path: Path) -> Path:
    data = yaml.safe_load((ROOT / "scenarios" / "quickstart.yaml").read_text())
    data["fleet"] = [{**data["fleet"][0], "count": 1}, {**data["fleet"][1], "count": 1}]
    data["duration"] = "1h"
    data["models"].pop("cloud")
    data["federation"].update(rounds=1, clients_per_round=2, pretrain={"rounds": 0})
    path.write_text(yaml.safe_dump(data))
    return path


def _wait_for_port(port: int, deadline: float, proc: subprocess.Popen) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args[0]} exited with {proc.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


def test_the_app_package_holds_the_apps_code_and_scenarios_and_fits_flowers_limit():
    """What `flwr run` would pack, by Flower's own filter over the files in the checkout (no data: Flower refuses it)."""
    from flwr.cli.build import get_filtered_fab_paths
    from flwr.common.constant import FAB_MAX_SIZE

    files = {str(p.relative_to(ROOT)): p for p in ROOT.rglob("*") if p.is_file() and ".git" not in p.parts}
    packed = get_filtered_fab_paths(files, tomllib.loads((ROOT / "pyproject.toml").read_text()))
    assert {"sim/app/flower.py", "clients/app.py", "server/app.py", "server/inprocess.py", "scenarios/quickstart.yaml",
            "sim/catalogue/devices.yaml", "clients/datasets/README.md"} <= set(packed)
    assert {p.split("/")[0] for p in packed} == {"sim", "clients", "server", "plots", "scenarios"}
    assert not any(p.endswith((".gz", ".npz", ".csv")) for p in packed)
    assert sum(files[p].stat().st_size for p in packed) < FAB_MAX_SIZE / 4


@pytest.mark.slow
def test_flwr_run_on_a_superlink_with_two_supernodes(tmp_path):
    home, logs = tmp_path / "flwr-home", tmp_path / "logs"
    home.mkdir()
    logs.mkdir()
    link = _free_port()
    (home / "config.toml").write_text(f'[superlink]\ndefault = "edgefed-test"\n\n[superlink.edgefed-test]\n'
                                      f'address = "127.0.0.1:{link}"\ninsecure = true\n')
    env = {**os.environ, "FLWR_HOME": str(home), "FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1",
           "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1", "EDGEFED_CACHE_DIR": str(tmp_path / "cache"),
           "EDGEFED_DATA": str(ROOT / "clients" / "datasets" / "sgsc_households_hourly.csv.gz"),
           "PYTHONPATH": str(ROOT),
           # the SuperLink and SuperNodes start flwr-serverapp / flwr-clientapp by name: the folder of Flower's scripts
           "PATH": os.pathsep.join([str(Path(console_script_path("flwr-clientapp")).parent), os.environ["PATH"]])}
    deadline = time.monotonic() + BUDGET_S
    started: list[subprocess.Popen] = []

    def start(name: str, *args: str) -> subprocess.Popen:
        proc = subprocess.Popen([*console_script(name), *args], env=env, cwd=tmp_path, start_new_session=True,
                                stdout=(logs / f"{name}-{len(started)}.log").open("w"), stderr=subprocess.STDOUT)
        started.append(proc)
        return proc

    try:
        superlink = start("flower-superlink", "--insecure", "--host", "127.0.0.1", "--port", str(link))
        _wait_for_port(link, deadline, superlink)
        for partition in range(2):
            start("flower-supernode", "--insecure", "--superlink", f"127.0.0.1:{link}", "--port", str(_free_port()),
                  "--node-config", f"partition-id={partition} num-partitions=2")
        out = tmp_path / "run"
        config = f"scenario='{_scenario(tmp_path / 'quickstart-2.yaml')}' out='{out}' supernodes=2"
        run = subprocess.run([*console_script("flwr"), "run", str(ROOT), "edgefed-test", "--run-config", config, "--stream"],
                             env=env, cwd=tmp_path, capture_output=True, text=True,
                             timeout=max(10.0, deadline - time.monotonic()))
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        while not (out / "summary.json").exists() and time.monotonic() < deadline:
            time.sleep(0.5)  # the log stream may end before the ServerApp's last rename
        summary = json.loads((out / "summary.json").read_text())
        assert summary["requests_written"] > 1000 and summary["fl_rounds"] == 1
        rounds = list(csv.DictReader((out / "rounds.csv").open()))
        assert [(r["phase"], r["selected"], r["aggregated"]) for r in rounds] == [("deploy", "2", "2")]
        assert yaml.safe_load((out / "scenario.yaml").read_text())["federation"]["supernodes"] == 2
        versions = list(csv.DictReader((out / "versions.csv").open()))
        assert [r["model_version"] for r in versions] == ["0", "1"] and all(float(r["mse"]) > 0 for r in versions)
    finally:
        _stop(started)


def _stop(started: list[subprocess.Popen]) -> None:
    """SIGTERM, then SIGKILL, every process group this test started and every group its processes' children
    opened (the SuperLink's flower-superexec and its flwr-serverapp run in a session of their own)."""
    procs = [psutil.Process(p.pid) for p in started if p.poll() is None]
    family = procs + [c for p in procs for c in _children(p)]
    groups = {os.getpgid(p.pid) for p in family if _alive(p)}
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for group in groups:
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                pass
        psutil.wait_procs([p for p in family if _alive(p)], timeout=10)
        for proc in started:
            try:
                proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
    left = [p.pid for p in family if _alive(p)]
    assert not left, f"still running after SIGKILL: {left}"


def _children(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
