"""Figures drawn from run-directory files only, so they can be redrawn without re-running."""
from __future__ import annotations

from pathlib import Path


def run_figures() -> dict:
    """Every per-run figure function by name; each returns the PNG path, or None when its input is absent."""
    from plots.energy import battery_soc, energy_per_request
    from plots.federation import fl_timeline, forecast_error, model_versions
    from plots.latency import latency_breakdown, latency_cdf
    from plots.network import link_utilisation

    return {f.__name__: f for f in (latency_cdf, latency_breakdown, energy_per_request, battery_soc,
                                    link_utilisation, forecast_error, model_versions, fl_timeline)}


def render_run(run_dir: str | Path) -> list[Path]:
    """Every per-run figure that applies into RUN_DIR/plots/ (PNG and PDF), the topology family's when the run
    has sites, mobility or outages (plots.topology); the PNG paths."""
    from plots.topology import topology_figures

    run_dir = Path(run_dir)
    draws = {**run_figures(), **topology_figures()}
    return [png for draw in draws.values() if (png := draw(run_dir)) is not None]
