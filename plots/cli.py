"""`edgefed plot`: redraw one run's figures, or compare several runs into figures and a report."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import typer


def plot_command(
    run_dirs: list[Path] = typer.Argument(..., help="one run directory, or several to compare"),
    out: Path | None = typer.Option(None, "--out", help="comparison output [default: <common parent>/comparison]"),
) -> None:
    """Redraw a run's figures from its files, or compare several runs (figures, report.md, report.html)."""
    for run_dir in run_dirs:
        if not (run_dir / "summary.json").is_file():
            print(f"error: {run_dir}: not a run directory (no summary.json)", file=sys.stderr)
            raise typer.Exit(2)
    if len(run_dirs) == 1:
        from plots import render_run

        for path in render_run(run_dirs[0]):
            print(f"wrote {path}")
        return
    from plots.report import write_report

    target = out or Path(os.path.commonpath([d.resolve() for d in run_dirs])) / "comparison"
    for path in write_report(run_dirs, target):
        print(f"wrote {path}")
