"""Figures across federated runs (plots/fl_compare.py) on synthetic run directories with known answers."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from plots.fl_compare import accuracy_curve, draw_time_to_accuracy, time_to_accuracy, time_to_reach, wan_bytes


def _write(path: Path, name: str, header: list[str], rows: list[list]) -> None:
    with (path / name).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _run(tmp_path: Path, name: str, rounds: list[list], header: list[str], mse: list[float],
         wan: list[tuple[float, str, float]]) -> Path:
    run = tmp_path / name
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"scenario": "synthetic"}))
    _write(run, "rounds.csv", header, rounds)
    _write(run, "versions.csv", ["model", "model_version", "held_out_hours", "mse"],
           [["edge", v, 48, m] for v, m in enumerate(mse)])
    _write(run, "links.csv", ["time_s", "link", "utilisation", "throughput_bps"],
           [[t, link, 0.0, bps] for t, link, bps in wan])
    return run


FLAT_HEADER = ["phase", "round", "start_s", "deadline_s", "aggregated", "model_version"]
HIER_HEADER = FLAT_HEADER + ["level", "site", "end_s"]


@pytest.fixture
def runs(tmp_path):
    flat = _run(tmp_path, "flat", [["deploy", 1, 0, 60, 3, 1], ["deploy", 2, 60, 120, 0, 1], ["deploy", 3, 120, 180, 3, 2]],
                FLAT_HEADER, [0.9, 0.8, 0.7],
                [(100, "a/wan/up", 800.0), (100, "a/wan/down", 1600.0), (200, "a/wan/up", 8000.0),
                 (200, "a-wifi/up", 1e6)])
    hier = _run(tmp_path, "hier", [["deploy", 1, 0, 60, 3, 0, "edge", 0, 61], ["deploy", 2, 60, 120, 3, 0, "edge", 0, 121],
                                   ["deploy", 2, 121, 121, 1, 1, "cloud", -1, 125]],
                HIER_HEADER, [0.9, 0.75], [(100, "a/wan/up", 80.0)])
    return flat, hier


def test_versions_are_paired_with_the_time_they_were_published(runs):
    flat, hier = runs
    # flat: a round's deadline_s; the round that aggregated nothing keeps version 1 and is not a new point
    assert accuracy_curve(flat) == [(0.0, 0, 0.9), (60.0, 1, 0.8), (180.0, 2, 0.7)]
    # hierarchical: only cloud rows publish global versions, at their end_s
    assert accuracy_curve(hier) == [(0.0, 0, 0.9), (125.0, 1, 0.75)]


def test_wan_bytes_are_the_sum_of_throughput_over_the_sampling_interval(runs):
    flat, hier = runs
    # interval 100 s: (800 + 8000) bit/s * 100 s / 8 up, 1600 * 100 / 8 down; the WiFi cell does not count
    assert wan_bytes(flat) == {"up": pytest.approx(110000.0), "down": pytest.approx(20000.0)}
    assert wan_bytes(hier) == {"up": pytest.approx(1000.0), "down": 0.0}


def test_time_to_reach_ignores_the_starting_model(runs):
    flat, hier = runs
    assert time_to_reach(accuracy_curve(flat), 0.8) == 60.0
    assert time_to_reach(accuracy_curve(hier), 0.7) is None
    assert time_to_reach(accuracy_curve(flat), 0.95) == 60.0  # v0 (0.9) would be below, but it is not a result


def test_the_figure_has_a_curve_per_run_and_wan_bars(runs, tmp_path):
    flat, hier = runs
    fig = draw_time_to_accuracy({"flat": flat, "hierarchical": hier}, reference="flat")
    curves, bars = fig.axes
    assert [line.get_label() for line in curves.get_lines()] == ["flat", "hierarchical", "flat final MSE"]
    assert curves.get_lines()[2].get_ydata()[0] == pytest.approx(0.7)
    heights = sorted(p.get_height() for p in bars.patches)
    assert heights == pytest.approx([0.0, 1.0, 20.0, 110.0])  # kB: hier up/down, flat up/down
    assert time_to_accuracy({"flat": flat}, tmp_path / "figs", "cmp").is_file()
    assert draw_time_to_accuracy({"none": tmp_path}) is None
