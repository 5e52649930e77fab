"""Terminal tables fit 80 columns: no line longer, no cell cut short with an ellipsis, no word broken."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from sim.app.cli import SHOWN_METRICS, comparison_table
from sim.app.compare import METRICS
from sim.catalogue import DEVICES, LINKS
from sim.policies import registry

ROOT = Path(__file__).resolve().parents[2]


def _fits(text: str) -> None:
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80, max(lines, key=len)
    assert "…" not in text


def test_profiles_fit_80_columns_with_every_name_whole():
    shown = subprocess.run([sys.executable, "-m", "sim.app.cli", "profiles"], cwd=ROOT, capture_output=True,
                           text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "80"})
    assert shown.returncode == 0, shown.stderr
    _fits(shown.stdout)
    rows = [line.split() for line in shown.stdout.splitlines()]
    for name in [*DEVICES, *LINKS]:
        assert [name] in [r[:1] for r in rows], f"{name} is not whole at the start of a table row"
    assert "raspberry-pi-4: Pi 4B HPL" in shown.stdout  # sources follow the tables as text


def test_comparison_table_of_every_policy_fits_80_columns():
    rows = [{"policy": name, **{m: 123456.789 for m in METRICS}, **{f"{m}_ci95": 1234.5 for m in METRICS}}
            for name in sorted(registry())]
    out = io.StringIO()
    Console(file=out, width=80).print(comparison_table("quickstart: 5 seeds, mean ± 95% CI", rows))
    _fits(out.getvalue())
    for name in registry():
        assert f" {name} " in out.getvalue()
    assert out.getvalue().count("1.23e5") == out.getvalue().count("± 1.2e3") == len(rows) * len(SHOWN_METRICS)
