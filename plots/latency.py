"""Latency figures of one run: CDF by offload target, mean breakdown by device class."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import ticker

from plots.rundir import TARGETS, device_profiles, read_csv, read_requests, scenario_name
from plots.style import LATENCY_PART_COLOURS, TARGET_COLOURS, figure, save

PARTS = ("queue", "transfer", "compute", "propagation")
_CDF_POINTS = 2000  # enough for a smooth step at paper size; keeps the PDF small for million-request runs


def _cdf(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values = np.sort(values)
    probs = np.arange(1, len(values) + 1) / len(values)
    if len(values) > _CDF_POINTS:
        keep = np.unique(np.linspace(0, len(values) - 1, _CDF_POINTS).astype(np.int64))
        values, probs = values[keep], probs[keep]
    return values, probs


def draw_latency_cdf(run_dir: Path):
    """Empirical CDF of served-request latency, one line per offload target present (log-scaled ms)."""
    req = read_requests(run_dir, ["target", "latency_s"])
    if req is None or not len(req["target"]):
        return None
    fig, ax = figure()
    for label in TARGETS:
        values = req["latency_s"][req["target"] == label].astype(np.float64) * 1e3
        values = values[np.isfinite(values) & (values > 0)]
        if len(values):
            x, y = _cdf(values)
            ax.step(x, y, where="post", color=TARGET_COLOURS[label], label=f"{label} (n={len(values):,})")
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))  # labels within one decade too
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("fraction of requests")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{scenario_name(run_dir)}: latency CDF by target")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="best")
    return fig


def latency_cdf(run_dir: Path) -> Path | None:
    return save(draw_latency_cdf(Path(run_dir)), run_dir, "latency_cdf")


def draw_latency_breakdown(run_dir: Path):
    """Stacked bars of mean queueing, transfer, compute and propagation time (ms) per device class."""
    devices = read_csv(run_dir, "devices.csv")
    req = read_requests(run_dir, ["device"] + [f"{p}_s" for p in PARTS])
    if devices is None or req is None or not len(req["device"]) or not len(devices["device"]):
        return None
    profile = device_profiles(devices)[req["device"].astype(np.int64)]
    classes = [c for c in sorted(set(devices["profile"])) if np.any(profile == c)]
    means = {p: np.array([np.nanmean(req[f"{p}_s"][profile == c]) * 1e3 for c in classes]) for p in PARTS}
    fig, ax = figure()
    x = np.arange(len(classes))
    bottom = np.zeros(len(classes))
    for p in PARTS:
        ax.bar(x, means[p], 0.6, bottom=bottom, color=LATENCY_PART_COLOURS[p], edgecolor="white", linewidth=0.5,
               label=p)
        bottom += means[p]
    ax.set_xticks(x, [f"{c}\n(n={int(np.sum(profile == c)):,})" for c in classes])
    ax.set_ylabel("mean latency per request (ms)")
    ax.set_ylim(0, max(bottom.max(), 1e-9) * 1.08)
    ax.set_title(f"{scenario_name(run_dir)}: latency breakdown by device class")
    ax.grid(True, axis="y", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles[::-1], labels[::-1], loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def latency_breakdown(run_dir: Path) -> Path | None:
    return save(draw_latency_breakdown(Path(run_dir)), run_dir, "latency_breakdown")

