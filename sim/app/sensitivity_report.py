"""What a sensitivity analysis found: per-variant means over seeds, ranking flips, and the 80-column table."""
from __future__ import annotations

import json
import math
from typing import Any

from rich import box
from rich.table import Table

from plots.groups import mean_ci
from plots.sensitivity import BASELINE, relative_change

# how the table shows a metric of summary.json: header, scale
SHOWN = {"latency_mean_s": ("latency ms", 1e3), "latency_p95_s": ("p95 ms", 1e3),
         "energy_per_request_j": ("energy mJ", 1e3), "deadline_miss_rate": ("miss %", 100.0)}


def results(the_plan: Any, metrics: tuple[str, ...]) -> list[dict]:
    """sensitivity.csv's rows from a finished sim.app.sensitivity.Plan: each (constant, factor, policy, metric):
    the mean over seeds, its 95% CI (Student t), the baseline's mean and the difference (value - baseline)."""
    means: dict[tuple, tuple[float, float]] = {}
    for (path, factor), runs in the_plan.points.items():
        for policy in the_plan.policies:
            summaries = [json.loads((r.path / "summary.json").read_text()) for r in runs
                         if r.policy == policy and r.done]
            for metric in metrics:
                values = [float(s[metric]) for s in summaries if s.get(metric) is not None]
                means[(path, factor, policy, metric)] = mean_ci(values)
    rows = []
    for (path, factor, policy, metric), (value, ci) in means.items():
        baseline = means[(BASELINE, 1.0, policy, metric)][0]
        rows.append({"constant": path, "factor": factor, "policy": policy, "metric": metric, "value": value,
                     "ci": ci, "baseline": baseline, "delta": value - baseline})
    return rows


def rankings(rows: list[dict]) -> list[dict]:
    """ranking.csv's rows: the policies best first (lower is better) per (constant, factor, metric); flipped:
    the order differs from the baseline's."""
    orders: dict[tuple, list[tuple[float, str]]] = {}
    for row in rows:
        orders.setdefault((row["constant"], row["factor"], row["metric"]), []).append((row["value"], row["policy"]))
    ranked = {key: [p for _, p in sorted(pairs, key=lambda vp: (math.inf if math.isnan(vp[0]) else vp[0], vp[1]))]
              for key, pairs in orders.items()}
    out = []
    for (path, factor, metric), order in ranked.items():
        if path == BASELINE:
            continue
        baseline = ranked[(BASELINE, 1.0, metric)]
        out.append({"constant": path, "factor": factor, "metric": metric, "baseline_order": " < ".join(baseline),
                    "order": " < ".join(order), "flipped": order != baseline})
    return out




def _importance(rows: list[dict]) -> dict[str, float]:
    """constant -> its largest change of any metric for any policy (percent): the table's order."""
    size: dict[str, float] = {}
    for row in rows:
        change = abs(relative_change(row))
        size[row["constant"]] = max(size.get(row["constant"], 0.0), change if math.isfinite(change) else 0.0)
    return size


def table(title: str, rows: list[dict], flips: list[dict]) -> Table:
    """One line per (constant, factor, policy): each metric's mean and its change; the metrics whose ranking
    flipped. The largest effects first; 80 columns."""
    metrics = list(dict.fromkeys(r["metric"] for r in rows))
    flipped = {(f["constant"], f["factor"]): [m for m in metrics for g in flips if (g["constant"], g["factor"],
               g["metric"]) == (f["constant"], f["factor"], m) and g["flipped"]] for f in flips}
    out = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left", caption_justify="left",
                caption="change: from the baseline, same seeds; flip: the policies' order by that metric changed")
    out.add_column("constant", no_wrap=True, overflow="ellipsis", max_width=30)
    out.add_column("x", justify="right")
    out.add_column("policy", no_wrap=True, overflow="ellipsis", max_width=12)
    for metric in metrics:
        out.add_column(SHOWN.get(metric, (metric[:10], 1.0))[0], justify="right")
        out.add_column("change", justify="right")
    out.add_column("flip", no_wrap=True)
    cells = {(r["constant"], r["factor"], r["policy"], r["metric"]): r for r in rows}
    points = list(dict.fromkeys((r["constant"], r["factor"], r["policy"]) for r in rows))
    size = _importance(rows)
    points.sort(key=lambda p: (p[0] != BASELINE, -size[p[0]]))
    for i, (constant, factor, policy) in enumerate(points):
        line = [constant, "1" if constant == BASELINE else f"{factor:g}", policy]
        for metric in metrics:
            row, scale = cells[(constant, factor, policy, metric)], SHOWN.get(metric, ("", 1.0))[1]
            change = relative_change(row)
            line += [f"{row['value'] * scale:.4g}", "" if constant == BASELINE else f"{change:+.1f}%"]
        first = i == 0 or points[i - 1][:2] != (constant, factor)
        names = flipped.get((constant, factor), [])
        line.append(",".join(SHOWN.get(m, (m,))[0].split()[0] for m in names) if first and names else "")
        out.add_row(*line)
    return out
