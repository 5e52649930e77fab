"""The tornado figure, drawn from a sensitivity.csv alone: one bar pair per constant, in each policy's panel."""
from __future__ import annotations

import csv

import matplotlib.patches

from plots.sensitivity import draw_tornado, plot_tornados, read_rows

HEADER = ["constant", "factor", "policy", "metric", "value", "ci", "baseline", "delta"]


def _csv(tmp_path, constants):
    rows = []
    for policy, base in (("local", 10.0), ("edge", 20.0)):
        rows.append(["(baseline)", 1.0, policy, "latency_mean_s", base, 0.1, base, 0.0])
        for i, constant in enumerate(constants):
            for factor, change in ((0.5, -(i + 1)), (2.0, 2 * (i + 1))):
                rows.append([constant, factor, policy, "latency_mean_s", base + change, 0.1, base, change])
    path = tmp_path / "sensitivity.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def test_one_bar_pair_per_constant_largest_swing_on_top(tmp_path):
    constants = ["edge.speed", "links.wifi.tail_s", "profiles.raspberry-pi-4.lstm_flops_per_s"]
    fig = draw_tornado(read_rows(_csv(tmp_path, constants)), "latency_mean_s")
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["local", "edge"]
    for ax, base in zip(axes, (10.0, 20.0)):
        bars = [p for p in ax.patches if isinstance(p, matplotlib.patches.Rectangle)]
        assert len(bars) == 2 * len(constants)
        widths = sorted(round(b.get_width(), 9) for b in bars)  # percent changes of the baseline
        assert widths == sorted(round(100 * c / base, 9) for i in range(3) for c in (-(i + 1), 2 * (i + 1)))
    # the constant with the largest change (the third, +6) is the top label
    labels = [t.get_text() for t in axes[0].get_yticklabels()]
    assert labels[-1] == constants[2] and labels[0] == constants[0]


def test_plot_tornados_writes_one_figure_per_metric(tmp_path):
    paths = plot_tornados(_csv(tmp_path, ["edge.speed"]), tmp_path / "plots")
    assert [p.name for p in paths] == ["tornado-latency_mean_s.png"] and paths[0].stat().st_size > 1000
