"""What a sensitivity analysis found: per-variant means over seeds, ranking flips, and the 80-column table."""
from __future__ import annotations

import json
import math
from typing import Any

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


def table(title: str, rows: list[dict], flips: list[dict], constants: list | None = None, width: int = 80) -> str:
    """The constants with the largest effect first; under each, one line per (factor, policy): each metric's mean
    and its change from the baseline; flip names the metrics whose ranking of the policies changed."""
    metrics = list(dict.fromkeys(r["metric"] for r in rows))
    flipped: dict[tuple, list[str]] = {}
    for f in flips:
        if f["flipped"]:
            flipped.setdefault((f["constant"], f["factor"]), []).append(SHOWN.get(f["metric"], (f["metric"],))[0])
    cells = {(r["constant"], r["factor"], r["policy"], r["metric"]): r for r in rows}
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    size = _importance(rows)
    order = sorted(dict.fromkeys(r["constant"] for r in rows), key=lambda c: (c != BASELINE, -size[c]))
    why = {c.path: f" = {c.value:.4g} ({c.why})" for c in constants or []}
    head = f"{'x':>6}  {'policy':<15}" + "".join(f"{SHOWN.get(m, (m[:10],))[0]:>11}{'change':>8}" for m in metrics)
    lines = [title[:width], head + "  flip", "-" * min(width, len(head) + 16)]
    for constant in order:
        lines.append((constant + why.get(constant, ""))[:width])
        for factor in sorted({r["factor"] for r in rows if r["constant"] == constant}):
            for i, policy in enumerate(policies):
                line = f"{'' if constant == BASELINE else f'x{factor:g}':>6}  {policy[:15]:<15}"
                for metric in metrics:
                    row, scale = cells[(constant, factor, policy, metric)], SHOWN.get(metric, ("", 1.0))[1]
                    change = "" if constant == BASELINE else f"{relative_change(row):+.1f}%"
                    line += f"{row['value'] * scale:>11.4g}{change:>8}"
                names = flipped.get((constant, factor), []) if i == 0 else []
                lines.append((line + ("  " + ",".join(n.split()[0] for n in names) if names else ""))[:width])
    lines.append("change: from the baseline, same seeds; flip: the order of the policies changed")
    return "\n".join(line.rstrip() for line in lines)
