"""Tornado figures of a sensitivity analysis, read from its sensitivity.csv: one figure per metric."""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from plots.style import OKABE_ITO, figure, save_to

BASELINE = "(baseline)"
LABELS = {"latency_mean_s": "mean latency", "latency_p95_s": "p95 latency",
          "energy_per_request_j": "energy per request", "deadline_miss_rate": "deadline misses"}


def read_rows(path: Path) -> list[dict]:
    """sensitivity.csv's rows with numbers as floats."""
    with Path(path).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for key in ("factor", "value", "ci", "baseline", "delta"):
            row[key] = float(row[key]) if row[key] not in ("", "nan") else math.nan
    return rows


def relative_change(row: dict) -> float:
    """The change from the baseline in percent (0 when both are 0)."""
    if row["baseline"] == 0:
        return 0.0 if row["delta"] == 0 else math.copysign(math.inf, row["delta"])
    return 100.0 * row["delta"] / abs(row["baseline"])


def swings(rows: list[dict], metric: str, policy: str) -> dict[str, dict[float, float]]:
    """constant -> factor -> percent change of `metric` for `policy` (the baseline left out)."""
    out: dict[str, dict[float, float]] = {}
    for row in rows:
        if row["metric"] == metric and row["policy"] == policy and row["constant"] != BASELINE:
            out.setdefault(row["constant"], {})[row["factor"]] = relative_change(row)
    return out


def draw_tornado(rows: list[dict], metric: str):
    """One panel per policy; per constant one bar pair: the lowest and the highest factor's change, largest on top."""
    policies = list(dict.fromkeys(r["policy"] for r in rows if r["metric"] == metric))
    factors = sorted({r["factor"] for r in rows if r["constant"] != BASELINE})
    low, high = factors[0], factors[-1]
    by_policy = {p: swings(rows, metric, p) for p in policies}
    constants = list(by_policy[policies[0]])
    size = {c: max(abs(v) for p in policies for v in by_policy[p][c].values() if math.isfinite(v)) if any(
        math.isfinite(v) for p in policies for v in by_policy[p][c].values()) else 0.0 for c in constants}
    constants.sort(key=lambda c: size[c])  # barh draws bottom up: the largest swing ends on top
    fig, axes = figure(2.2 + 2.4 * len(policies), 0.9 + 0.22 * len(constants), ncols=len(policies), sharey=True,
                       squeeze=False)
    y = np.arange(len(constants))
    for ax, policy in zip(axes[0], policies):
        changes = by_policy[policy]
        for factor, colour, shift in ((low, OKABE_ITO[0], -0.2), (high, OKABE_ITO[3], 0.2)):
            values = [changes[c].get(factor, math.nan) for c in constants]
            ax.barh(y + shift, np.nan_to_num(values, posinf=0, neginf=0), 0.4, color=colour, edgecolor="black",
                    linewidth=0.3, label=f"x{factor:g}")
        ax.axvline(0, color="black", linewidth=0.6)
        ax.set_title(policy)
        ax.set_xlabel(f"{LABELS.get(metric, metric)}: change (%)")
    axes[0][0].set_yticks(y, constants)
    axes[0][-1].legend(loc="lower right")
    return fig


def plot_tornados(csv_path: Path, folder: Path) -> list[Path]:
    """folder/tornado-<metric>.png (and .pdf) for every metric of sensitivity.csv."""
    rows = read_rows(csv_path)
    if not any(r["constant"] != BASELINE for r in rows):
        return []
    return [save_to(draw_tornado(rows, metric), folder, f"tornado-{metric}")
            for metric in dict.fromkeys(r["metric"] for r in rows)]
