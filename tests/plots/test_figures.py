"""Every figure renders from run-directory files, is not blank, and shows what it should."""
from __future__ import annotations

import matplotlib.image as mpimg
import pytest

from plots import render_run
from plots.compare import BARS, write_report
from plots.run_figures import fl_timeline
from sim import scenario as scenarios
from sim.runner import run_scenario, write_run


def _scenario(policy: str) -> scenarios.Scenario:
    return scenarios.parse({
        "name": "figures", "seed": 3, "duration": "2h", "policy": {"name": policy},
        "fleet": [{"profile": "raspberry-pi-4", "count": 2, "link": "wifi",
                   "workload": {"kind": "poisson", "rate": "2/min", "deadline": "100ms"}},
                  {"profile": "smartphone", "count": 2, "link": "lte", "battery": "30J",
                   "workload": {"kind": "poisson", "rate": "2/min", "deadline": "300ms"}}],
        "federation": {"enabled": False, "pretrain": {"rounds": 0}}}, "figures")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "run"
    write_run(run_scenario(_scenario("greedy")), out)
    (out / "round_clients.csv").write_text(
        "round,device,profile,status,start_s,download_end_s,train_start_s,train_end_s,upload_end_s,deadline_s\n"
        "1,0,raspberry-pi-4,aggregated,600,nan,600,604,605,900\n"
        "1,2,smartphone,straggler,600,610,610,700,950,900\n"
        "1,3,smartphone,failed,600,nan,nan,nan,nan,900\n")
    return out


def _not_blank(path) -> None:
    pixels = mpimg.imread(path)
    assert pixels.std() > 0.05, path
    assert path.with_suffix(".pdf").stat().st_size > 1000


def test_every_run_figure_renders(run_dir):
    paths = render_run(run_dir)
    assert sorted(p.stem for p in paths) == sorted(["latency_cdf", "latency_breakdown", "energy_per_request",
                                                    "battery_soc", "link_utilisation", "forecast_error",
                                                    "fl_timeline"])
    for path in paths:
        _not_blank(path)


def test_fl_timeline_draws_a_bar_per_phase_and_marks_outcomes(run_dir, monkeypatch):
    import plots.run_figures as figures

    captured = {}
    original = figures.save
    monkeypatch.setattr(figures, "save", lambda fig, d, name: captured.setdefault("fig", fig) and original(fig, d, name))
    fl_timeline(run_dir)
    ax = captured["fig"].axes[0]
    assert len(ax.patches) == 5  # train + upload for device 0; download + train + upload for device 2
    labels = ax.get_legend_handles_labels()[1]
    assert {"straggler", "failed", "round deadline"} <= set(labels)


def test_comparison_figures_and_report(tmp_path):
    dirs = []
    for policy in ("local", "edge"):
        for seed in (1, 2):
            path = tmp_path / "runs" / f"{policy}-{seed}"
            write_run(run_scenario(_scenario(policy), seed=seed), path, plots=False)
            dirs.append(path)
    markdown, html = write_report(dirs, tmp_path / "comparison")
    text = markdown.read_text()
    assert "| local | 2 |" in text and "| edge | 2 |" in text
    assert html.read_text().count("<img") == len(BARS) + 1
    for name in [f"compare_{m}" for m in BARS] + ["compare_pareto"]:
        _not_blank(tmp_path / "comparison" / "plots" / f"{name}.png")
