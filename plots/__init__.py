"""Figures drawn from run-directory files only, so they can be redrawn without re-running."""
from __future__ import annotations

from pathlib import Path


def render_run(run_dir: str | Path) -> list[Path]:
    """Every per-run figure into RUN_DIR/plots/."""
    from plots.latency import latency_cdf
    from plots.run_figures import RUN_FIGURES

    run_dir = Path(run_dir)
    drawn = [latency_cdf(run_dir)] + [draw(run_dir) for draw in RUN_FIGURES]
    return [path for path in drawn if path is not None]
