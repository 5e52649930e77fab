"""Latency figures of one run."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from plots.style import TARGET_COLOURS, figure, save

TARGETS = ("local", "edge", "cloud")


def latency_cdf(run_dir: Path) -> Path:
    """Empirical CDF of request latency, one line per offload target (log-scaled milliseconds)."""
    table = pq.read_table(run_dir / "requests.parquet", columns=["target", "latency_s", "dropped"])
    target = table["target"].to_numpy()
    latency = table["latency_s"].to_numpy()
    served = table["dropped"].to_numpy() == 0
    name = json.loads((run_dir / "summary.json").read_text()).get("scenario", run_dir.name)
    fig, ax = figure()
    for i, label in enumerate(TARGETS):
        values = np.sort(latency[served & (target == i)]) * 1e3
        if len(values):
            ax.step(values, np.arange(1, len(values) + 1) / len(values), where="post",
                    color=TARGET_COLOURS[label], label=f"{label} (n={len(values)})")
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("fraction of requests")
    ax.set_ylim(0, 1.01)
    ax.set_title(f"{name}: latency CDF by target")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    return save(fig, run_dir, "latency_cdf")
