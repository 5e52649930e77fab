"""Compare offload policies on one scenario over seeds (common random numbers), with 95% confidence intervals."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

from plots.groups import ALL_METRICS, mean_ci
from sim import scenario as scenarios
from sim.app.output import write_csv

# column -> how to read it from summary.json (plots.groups.ALL_METRICS: the one list compare, sweep and report share)
METRICS = {m.name: (lambda s, m=m: None if s.get(m.key) is None else s[m.key] * m.scale) for m in ALL_METRICS}


def comparison_rows(summaries: dict[str, list[dict]]) -> list[dict]:
    """One row per policy: mean and CI of every metric over its seeds."""
    rows = []
    for policy, runs in summaries.items():
        row = {"policy": policy, "seeds": len(runs)}
        for name, read in METRICS.items():
            row[name], row[f"{name}_ci95"] = mean_ci([read(s) if read(s) is not None else math.nan
                                                      for s in runs if _has(s)])
        rows.append(row)
    return rows


def _has(summary: dict) -> bool:
    return summary.get("served", 0) > 0


def compare(scenario: scenarios.Scenario, policy_names: list[str], seeds: list[int], out: Path | None = None,
            progress: Callable[[str], None] | None = None) -> list[dict]:
    """Run every policy on every seed of the same scenario; write run directories and comparison.csv."""
    from sim.app.runner import run_scenario, write_run

    summaries: dict[str, list[dict]] = {name: [] for name in policy_names}
    for seed in seeds:
        for name in policy_names:
            result = run_scenario(scenario, seed=seed, policy=name)
            summaries[name].append(result.summary)
            if out is not None:
                write_run(result, Path(out) / "runs" / f"{name}-seed{seed}", plots=False)
            if progress is not None:
                progress(f"{name} seed {seed}")
    rows = comparison_rows(summaries)
    if out is not None:
        write_csv(Path(out) / "comparison.csv", rows, list(rows[0]))
    return rows
