"""Every figure renders from run-directory files alone, is not blank, and shows what it should."""
from __future__ import annotations

import json

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.container import BarContainer, ErrorbarContainer

from plots import render_run, run_figures
from plots.compare import METRICS, draw_metric_bars, draw_pareto, group_runs, render_comparison
from plots.report import write_report
from plots.groups import mean_ci
from plots.energy import draw_battery_soc, draw_energy_per_request
from plots.federation import draw_fl_timeline, draw_forecast_error, draw_model_versions, error_bin_s
from plots.latency import draw_latency_breakdown, draw_latency_cdf
from plots.network import draw_link_utilisation


def _not_blank(png) -> None:
    assert png.exists() and png.with_suffix(".pdf").stat().st_size > 1000, png
    assert mpimg.imread(png).std() > 0.05, png


def _bars(ax) -> list[BarContainer]:
    return [c for c in ax.containers if isinstance(c, BarContainer)]


@pytest.fixture
def close_figures():
    yield
    plt.close("all")


@pytest.mark.slow  # 5 s: renders every figure of a run
def test_render_run_draws_every_figure(run_dir):
    pngs = render_run(run_dir)
    assert sorted(p.stem for p in pngs) == sorted(run_figures())
    for png in pngs:
        _not_blank(png)


def test_latency_cdf_has_a_line_per_target_present(run_dir, close_figures):
    assert len(draw_latency_cdf(run_dir).axes[0].lines) == 3


def test_latency_breakdown_stacks_four_parts_per_class(run_dir, close_figures):
    bars = _bars(draw_latency_breakdown(run_dir).axes[0])
    assert [b.get_label() for b in bars] == ["queue", "transfer", "compute", "propagation"]
    assert all(len(b.patches) == 2 for b in bars)  # raspberry-pi-4, smartphone


def test_energy_per_request_is_component_total_over_served(run_dir, close_figures):
    fig = draw_energy_per_request(run_dir)
    everything, active = (_bars(ax) for ax in fig.axes[:2])
    assert len(everything) == 5 and len(active) == 4 and all(len(b.patches) == 2 for b in everything)
    served = np.genfromtxt(run_dir / "devices.csv", delimiter=",", names=True, dtype=None, encoding=None)["served"]
    idle_pi = everything[-1].patches[0].get_height()  # idle is 2.5 J per device; two raspberry-pi-4 devices
    assert idle_pi == pytest.approx(2 * 2.5 / served[:2].sum() * 1e3)


def test_battery_soc_draws_band_median_and_deaths(run_dir, close_figures):
    ax = draw_battery_soc(run_dir).axes[0]
    labels = [line.get_label() for line in ax.lines]
    assert labels == ["smartphone", "smartphone: 1 death"]
    assert len(ax.collections) == 1  # the min-max band
    assert ax.lines[1].get_xdata()[0] == pytest.approx(7000.0 / 3600)  # hours for a 3 h run


def test_link_utilisation_has_a_line_per_link(run_dir, close_figures):
    ax = draw_link_utilisation(run_dir).axes[0]
    assert sorted(line.get_label() for line in ax.lines) == sorted(
        ["raspberry-pi-4/wifi/up", "raspberry-pi-4/wifi/down", "smartphone/lte/up", "wan/down"])
    assert {line.get_linestyle() for line in ax.lines if line.get_label().endswith("down")} == {"--"}


def test_forecast_error_marks_rounds_and_versions(run_dir, close_figures):
    ax = draw_forecast_error(run_dir).axes[0]
    labels = [line.get_label() for line in ax.lines]
    assert labels[:2] == ["model (served requests)", "persistence baseline"]
    assert len(ax.lines) == 2 + 2 + 2  # two series, two round starts, two new versions
    assert [t.get_text() for t in ax.texts] == ["v1", "v2"]
    assert error_bin_s(3 * 3600) == 600 and error_bin_s(24 * 3600) == 3600


def test_model_versions_plots_each_version_and_reference_lines(tmp_path, close_figures):
    rows = ["model,model_version,held_out_hours,devices,forecasts,mse,mae,persistence_mse",
            "edge,0,48,4,192,0.9,0.7,1.2", "edge,1,48,4,192,0.8,0.6,1.2", "edge,2,48,4,192,0.75,0.6,1.2",
            "cloud,0,48,4,192,0.7,0.5,1.2", "personal,-1,48,4,192,0.65,0.5,1.2"]
    (tmp_path / "versions.csv").write_text("\n".join(rows) + "\n")
    ax = draw_model_versions(tmp_path).axes[0]
    edge, cloud, personal, persistence = ax.lines
    assert list(edge.get_xdata()) == [0, 1, 2] and list(edge.get_ydata()) == pytest.approx([0.9, 0.8, 0.75])
    assert [line.get_ydata()[0] for line in (cloud, personal, persistence)] == pytest.approx([0.7, 0.65, 1.2])
    assert [line.get_label() for line in ax.lines] == ["global edge model", "cloud model", "personal copies",
                                                       "persistence"]


def test_fl_timeline_bars_per_phase_and_outcomes(run_dir, close_figures):
    ax = draw_fl_timeline(run_dir).axes[0]
    phases = {b.get_label(): len(b.patches) for b in _bars(ax)}
    assert phases == {"download": 4, "train": 4, "upload": 4}
    labels = set(ax.get_legend_handles_labels()[1])
    assert {"straggler (not aggregated)", "failed (client error)", "dropout (device died)", "round deadline"} <= labels
    assert [t.get_text() for t in ax.get_yticklabels()] == ["round 1", "round 2"]


def test_fl_timeline_marks_a_dropout_when_the_device_died(run_dir, close_figures):
    import csv

    def rewrite(name, change):
        with (run_dir / name).open() as f:
            rows = list(csv.DictReader(f))
        for row in rows:
            change(row)
        with (run_dir / name).open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

    # device 3 was to train in round 2 (start 4200 s) until 4330 s but its battery emptied at 4260 s
    rewrite("devices.csv", lambda r: r.update(death_s="4260") if r["device"] == "3" else None)
    rewrite("round_clients.csv", lambda r: r.update(train_end_s="4330") if r["status"] == "dropout" else None)
    ax = draw_fl_timeline(run_dir).axes[0]
    dropout = next(line for line in ax.lines if line.get_label() == "dropout (device died)")
    assert list(dropout.get_xdata()) == [60.0]
    train = next(b for b in _bars(ax) if b.get_label() == "train")
    row = dropout.get_ydata()[0]
    ends = [p.get_x() + p.get_width() for p in train.patches if abs(p.get_y() + p.get_height() / 2 - row) < 1e-9]
    assert ends == [60.0]  # its training bar stops there too


def test_figures_skip_runs_without_their_files(tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps({"scenario": "empty"}))
    assert render_run(tmp_path) == []
    assert not (tmp_path / "plots").exists()


def test_comparison_bars_one_per_policy_with_ci(comparison_dirs, tmp_path, close_figures):
    groups = group_runs(comparison_dirs)
    assert [g.label for g in groups] == ["edge", "local"]
    ax = draw_metric_bars(groups, METRICS[0]).axes[0]
    (bars,) = _bars(ax)
    assert len(bars.patches) == 2
    edge_mean = np.mean([json.loads((d / "summary.json").read_text())["latency_mean_s"] * 1e3
                         for d in comparison_dirs if d.name.startswith("edge")])
    assert bars.patches[0].get_height() == pytest.approx(edge_mean)
    pngs = render_comparison(comparison_dirs, tmp_path / "out")
    assert len(pngs) == len(METRICS) + 1
    for png in pngs:
        _not_blank(png)


def test_student_t_interval():
    mean, half = mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0 and half == pytest.approx(4.303 * 1.0 / np.sqrt(3))
    assert np.isnan(mean_ci([5.0])[1])


def test_pareto_point_per_policy_and_lyapunov_per_v(tmp_path, comparison_dirs, make_run_dir, close_figures):
    extra = [make_run_dir(tmp_path / f"lyap-{v}-{s}", "lyapunov", s, v=v) for v in (1.0, 10.0) for s in (1, 2)]
    groups = group_runs(comparison_dirs + extra)
    assert [g.label for g in groups] == ["edge", "local", "lyapunov V=1", "lyapunov V=10"]
    ax = draw_pareto(groups).axes[0]
    assert sum(isinstance(c, ErrorbarContainer) for c in ax.containers) == 4
    # the fixture's local and lyapunov runs share their numbers: the plot says so instead of hiding two of them
    assert sorted(t.get_text() for t in ax.texts) == ["V=1", "V=10", "same point: local, lyapunov V=1, lyapunov V=10"]


def test_pareto_names_policies_whose_points_coincide(close_figures):
    from plots.groups import Group

    same = {"energy_per_request_j": 0.002, "latency_mean_s": 0.004}
    groups = [Group("greedy", "greedy", "", [same, same]), Group("local", "local", "", [same]),
              Group("cloud", "cloud", "", [{"energy_per_request_j": 0.02, "latency_mean_s": 0.05}])]
    ax = draw_pareto(groups).axes[0]
    assert [t.get_text() for t in ax.texts] == ["same point: greedy, local"]


def test_report_has_table_and_embedded_figures(comparison_dirs, tmp_path):
    markdown, html = write_report(comparison_dirs, tmp_path / "report")
    text = markdown.read_text()
    assert "| edge | 2 |" in text and "| local | 2 |" in text
    assert text.count("](plots/compare_") == len(METRICS) + 1
    assert html.read_text().count('src="data:image/png;base64,') == len(METRICS) + 1
