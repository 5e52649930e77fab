"""Figures drawn from run-directory files only, so they can be redrawn without re-running."""
from __future__ import annotations

from pathlib import Path


def render_run(run_dir: str | Path) -> list[Path]:
    """Every per-run figure into RUN_DIR/plots/."""
    from plots.latency import latency_cdf

    return [latency_cdf(Path(run_dir))]
