"""Runs grouped into policy configurations (a policy and its parameters), the metrics compared across them,
and the Student t interval over their seeds."""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from plots.rundir import policy_params, summary

# Student t quantiles t_{0.975, n-1} for n = 2..30 seeds; 1.96 beyond. comparison.csv and sweep.csv
# (sim/app) use this same function, so the figures and the tables agree
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045]


def mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and 95% confidence half-width (Student t over seeds); NaN width for one value."""
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return math.nan, math.nan
    if len(values) == 1:
        return values[0], math.nan
    t = _T975[len(values) - 2] if len(values) - 2 < len(_T975) else 1.96
    return statistics.fmean(values), t * statistics.stdev(values) / math.sqrt(len(values))


@dataclass(frozen=True)
class Metric:
    name: str  # column of the report table and file stem (compare_<name>)
    key: str  # summary.json field
    scale: float
    label: str  # axis label with unit
    title: str
    plotted: bool = True  # a bar chart in the comparison report (the others are columns of its tables only)


ENERGY_LABEL = "energy per request, radio tails included (mJ)"
# every metric compare, sweep and the report show: one list (name, summary.json key, scale to the shown unit)
ALL_METRICS = (
    Metric("latency_mean_ms", "latency_mean_s", 1e3, "mean latency (ms)", "mean latency"),
    Metric("latency_p95_ms", "latency_p95_s", 1e3, "95th percentile latency (ms)", "p95 latency"),
    Metric("deadline_miss_pct", "deadline_miss_rate", 100.0, "deadline misses (% of served)", "deadline misses"),
    # a served request's compute and radio energy, the radio tails its transfers left included
    Metric("energy_per_request_mj", "energy_per_request_j", 1e3, ENERGY_LABEL, "energy per request"),
    # the devices' whole active energy (federated training and transfers too) per served request
    Metric("device_energy_per_request_mj", "device_energy_per_request_j", 1e3,
           "device energy per request, federated learning included (mJ)", "device energy per request", False),
    Metric("forecast_mse", "forecast_mse", 1.0, "forecast MSE (z-score²)", "forecast error"),
    Metric("bytes_offloaded", "bytes_offloaded", 1.0, "bytes offloaded", "bytes offloaded", False),
    Metric("dropped", "dropped", 1.0, "requests dropped", "dropped requests", False),
)
METRICS = tuple(m for m in ALL_METRICS if m.plotted)  # the report's figures


@dataclass
class Group:
    """The replicates (seeds) of one policy configuration."""
    label: str  # the policy, plus the parameters its configurations differ in ("lyapunov V=10")
    policy: str
    variant: str  # the parameter part of the label ("V=10"), "" when the policy has one configuration
    summaries: list[dict] = field(default_factory=list)
    params: dict = field(default_factory=dict)  # policy.params of the runs' scenario.yaml

    def values(self, key: str, scale: float = 1.0) -> list[float]:
        return [s[key] * scale for s in self.summaries if isinstance(s.get(key), (int, float))
                and math.isfinite(s[key])]


def _text(value) -> str:
    return f"{float(value):g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def _order(value) -> tuple:
    """Numbers before text, numbers by value (V=2 before V=10)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def _varying(configs: list[dict]) -> list[str]:
    """The parameters these configurations of one policy do not all share (set, and to the same value)."""
    keys = {k for p in configs for k in p}
    return sorted(k for k in keys if len({_text(p[k]) if k in p else None for p in configs}) > 1)


def group_runs(run_dirs: list[Path]) -> list[Group]:
    """Runs grouped by summary["policy"] and scenario.yaml's policy.params; labels name the params that differ."""
    runs: dict[tuple[str, str], Group] = {}
    for run in run_dirs:
        s = summary(run)
        policy, params = str(s.get("policy", "?")), policy_params(run)
        key = (policy, repr(sorted((k, _text(v)) for k, v in params.items())))
        runs.setdefault(key, Group(policy, policy, "", [], params)).summaries.append(s)
    ordered = []
    for policy in sorted({g.policy for g in runs.values()}):
        groups = [g for g in runs.values() if g.policy == policy]
        varying = _varying([g.params for g in groups])
        for g in groups:
            g.variant = " ".join(f"{k}={_text(g.params[k])}" for k in varying if k in g.params)
            g.label = f"{policy} {g.variant}" if g.variant else policy
        # a configuration that leaves a parameter at its default comes first, then by value
        ordered += sorted(groups, key=lambda g: ([(k in g.params, _order(g.params.get(k))) for k in varying],
                                                 g.label))
    return ordered


def scenario_title(groups: list[Group]) -> str:
    names = sorted({str(s.get("scenario", "?")) for g in groups for s in g.summaries})
    return names[0] if len(names) == 1 else " / ".join(names[:3]) + (" ..." if len(names) > 3 else "")
