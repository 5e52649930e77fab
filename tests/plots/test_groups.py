"""Runs grouped by policy and parameters for any policy, from run files alone; plots never import the simulator."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


from plots.groups import group_runs, mean_ci
from plots.style import OKABE_ITO, POLICY_COLOURS, policy_colour, policy_marker

ROOT = Path(__file__).resolve().parents[2]


def _with_params(run: Path, policy: str, params: str) -> Path:
    (run / "scenario.yaml").write_text(f"name: tiny\npolicy:\n  name: {policy}\n  params: {params}\n")
    return run


def test_any_policy_whose_runs_differ_in_params_is_split_by_them(tmp_path, make_run_dir):
    runs = [_with_params(make_run_dir(tmp_path / f"r{i}-{s}", "random", s), "random", params)
            for i, params in enumerate(("{p_local: 0.8, p_edge: 1}", "{p_local: 0.2, p_edge: 1}", "{p_edge: 1}"))
            for s in (1, 2)]
    runs += [_with_params(make_run_dir(tmp_path / f"new-{s}", "brand-new", s), "brand-new", "{k: 3}") for s in (1, 2)]
    groups = group_runs(runs)
    # p_edge is shared, so it stays out of the labels; the run at the default comes first
    assert [g.label for g in groups] == ["brand-new", "random", "random p_local=0.2", "random p_local=0.8"]
    assert [len(g.summaries) for g in groups] == [2, 2, 2, 2]
    assert [g.variant for g in groups] == ["", "", "p_local=0.2", "p_local=0.8"]


def test_a_policy_without_a_fixed_colour_gets_a_stable_one():
    assert "brand-new" not in POLICY_COLOURS
    assert policy_colour("brand-new") in OKABE_ITO and policy_colour("brand-new") == policy_colour("brand-new")
    assert policy_marker("brand-new") == policy_marker("brand-new")
    code = "from plots.style import policy_colour; print(policy_colour('brand-new'))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                           env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "123"})
    assert other.stdout.strip() == policy_colour("brand-new")  # not Python's per-process string hash


def test_the_interval_is_the_one_comparison_csv_and_sweep_csv_use():
    from sim.app import compare, sweep

    assert compare.mean_ci is mean_ci and sweep.mean_ci is mean_ci


def test_plots_import_nothing_from_the_simulator():
    code = ("import sys, pkgutil, importlib, plots\n"
            "for m in pkgutil.iter_modules(plots.__path__): importlib.import_module('plots.' + m.name)\n"
            "print(sorted(m for m in sys.modules if m == 'sim' or m.startswith('sim.')))")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                           env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "[]"
