"""Flower's and Ray's log lines are hidden unless --verbose."""
from __future__ import annotations

import logging
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sim.app import cli
from sim.app.logs import framework_logs, quiet_imported_frameworks, ray_logging_level

ROOT = Path(__file__).resolve().parents[2]
FEDERATED = {
    "name": "tiny-fl", "seed": 2, "duration": "1h", "policy": {"name": "local"},
    "fleet": [{"profile": "raspberry-pi-4", "count": 2, "link": "wifi",
               "workload": {"kind": "poisson", "rate": "1/min", "deadline": "1s"}}],
    "models": {"edge": {"hidden": 8, "layers": 1, "window": 24}},
    "federation": {"enabled": True, "rounds": 1, "first_round_at": "10min", "every": "20min",
                   "clients_per_round": 2, "local_epochs": 1, "train_span": "2d", "round_deadline": "5min",
                   "pretrain": {"rounds": 1}},
}


def test_quiet_block_hides_flower_info_and_ray_tips_then_restores(caplog):
    flwr, ray = logging.getLogger("flwr"), logging.getLogger("ray")
    before = flwr.level, ray.level
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with framework_logs(verbose=False):
            assert flwr.getEffectiveLevel() == ray.getEffectiveLevel() == logging.ERROR  # errors still show
            warnings.warn_explicit("Tip: accelerator env var", FutureWarning, "worker.py", 1,
                                   module="ray._private.worker")
            warnings.warn_explicit("a user's own warning", FutureWarning, "mine.py", 1, module="mine")
    assert [str(w.message) for w in caught] == ["a user's own warning"]
    assert (flwr.level, ray.level) == before


def test_a_framework_imported_inside_a_quiet_block_is_quieted_again():
    flwr = logging.getLogger("flwr")
    before = flwr.level
    with framework_logs(verbose=False):
        flwr.setLevel(logging.DEBUG)  # what `import flwr` does
        assert ray_logging_level() == logging.ERROR
        quiet_imported_frameworks()
        assert flwr.level == logging.ERROR
    assert flwr.level == before and ray_logging_level() == logging.INFO


def test_verbose_block_changes_nothing():
    flwr = logging.getLogger("flwr")
    before = flwr.level
    with framework_logs(verbose=True):
        assert flwr.level == before


@pytest.mark.parametrize("command", ["run", "compare", "sweep"])
def test_commands_that_start_flower_or_ray_offer_verbose(command):
    assert "--verbose" in CliRunner().invoke(cli.app, [command, "--help"], env={"COLUMNS": "200"}).output


def _run(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    scenario = tmp_path / "fl.yaml"
    scenario.write_text(yaml.safe_dump(FEDERATED))
    return subprocess.run([sys.executable, "-m", "sim.app.cli", "run", str(scenario), "--out", str(tmp_path / "run"),
                           "--no-plots", *extra], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin:/usr/local/bin",
                               "EDGEFED_CACHE_DIR": str(tmp_path / "cache")})


@pytest.mark.slow  # two federated runs through Flower on Ray
def test_federated_run_prints_no_flower_or_ray_lines_unless_verbose(tmp_path):
    quiet = _run(tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    for noise in ("INFO", "WARNING", "fraction_evaluate", "DEPRECATED", "FutureWarning"):
        assert noise not in quiet.stderr, quiet.stderr
    loud = _run(tmp_path, "--verbose")
    assert loud.returncode == 0, loud.stderr
    assert "aggregate_train" in loud.stderr  # the lines the quiet run hid are there to hide
