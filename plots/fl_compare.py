"""Federation figures across runs of one scenario: held-out MSE against simulated time, and the WAN bytes each spent."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from plots.rundir import read_csv, scenario_name
from plots.style import OKABE_ITO, figure, save_to, time_unit


def accuracy_curve(run_dir: Path) -> list[tuple[float, int, float]]:
    """(simulated s a global version was published, version, held-out MSE), oldest first; version 0 at 0 s.

    A version's time is its first deploy row in rounds.csv: a cloud round's `end_s` in a hierarchical run (edge
    rows keep the global version), else the row's `deadline_s` (a sync round's end, an asynchronous step's time).
    """
    versions = read_csv(run_dir, "versions.csv", floats=("mse",))
    rounds = read_csv(run_dir, "rounds.csv", floats=("deadline_s", "end_s"))
    if versions is None or rounds is None:
        return []
    published = {0: 0.0}
    levels = rounds.get("level")
    times = rounds["end_s"] if "end_s" in rounds else rounds["deadline_s"]
    for i, phase in enumerate(rounds["phase"]):
        if phase != "deploy" or (levels is not None and levels[i] != "cloud"):
            continue
        published.setdefault(int(rounds["model_version"][i]), float(times[i]))
    edge = versions["model"] == "edge"
    return sorted((published[int(v)], int(v), float(m)) for v, m in zip(versions["model_version"][edge],
                                                                         versions["mse"][edge])
                  if int(v) in published and math.isfinite(m))


def wan_bytes(run_dir: Path) -> dict[str, float]:
    """Bytes carried by the sites' WAN links, up and down, from links.csv (its per-interval throughput, summed)."""
    links = read_csv(run_dir, "links.csv", floats=("time_s", "throughput_bps"))
    if links is None or not len(links["time_s"]):
        return {"up": math.nan, "down": math.nan}
    every_s = float(np.min(links["time_s"]))  # samples every `every_s`; each one's throughput is over that interval
    out = {}
    for way in ("up", "down"):
        mine = np.array([str(name).endswith(f"/wan/{way}") for name in links["link"]])
        out[way] = float(np.sum(links["throughput_bps"][mine]) * every_s / 8.0)
    return out


def time_to_reach(curve: list[tuple[float, int, float]], target: float) -> float | None:
    """Simulated s of the first version (after v0) whose held-out MSE is at most `target`; None if never."""
    return next((t for t, v, mse in curve if v > 0 and mse <= target), None)


def draw_time_to_accuracy(runs: dict[str, Path], reference: str | None = None):
    """Held-out MSE against simulated time for each run (label -> run dir), the reference's final MSE marked,
    and the WAN bytes each run spent (a bar per run)."""
    curves = {label: accuracy_curve(Path(d)) for label, d in runs.items()}
    curves = {label: c for label, c in curves.items() if c}
    if not curves:
        return None
    span = max(c[-1][0] for c in curves.values()) or 1.0
    scale, xlabel = time_unit(span)
    fig, (ax, bars) = figure(6.4, 2.6, ncols=2, gridspec_kw={"width_ratios": [2.2, 1]})
    for i, (label, c) in enumerate(curves.items()):
        t, _, mse = zip(*c)
        ax.plot(np.array(t) / scale, mse, drawstyle="steps-post", marker=".", markersize=3,
                color=OKABE_ITO[i % len(OKABE_ITO)], label=label)
    if reference in curves:
        ax.axhline(curves[reference][-1][2], color="0.4", linestyle=":", linewidth=0.9,
                   label=f"{reference} final MSE")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("held-out MSE (z-score²)")
    ax.set_title(f"{scenario_name(Path(next(iter(runs.values()))))}: time to accuracy")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=6)
    labels = list(curves)
    spent = [wan_bytes(Path(runs[label])) for label in labels]
    x = np.arange(len(labels))
    bars.bar(x - 0.2, [s["up"] / 1e3 for s in spent], 0.4, color=OKABE_ITO[2], label="up")
    bars.bar(x + 0.2, [s["down"] / 1e3 for s in spent], 0.4, color=OKABE_ITO[5], label="down")
    bars.set_xticks(x, labels, rotation=20, fontsize=6)
    bars.set_ylabel("WAN kB")
    bars.set_title("WAN bytes spent")
    bars.legend(fontsize=6)
    return fig


def time_to_accuracy(runs: dict[str, Path], folder: Path, name: str, reference: str | None = None) -> Path | None:
    """Write folder/name.png (and .pdf) of ``draw_time_to_accuracy``; None when no run has versions."""
    fig = draw_time_to_accuracy(runs, reference)
    return None if fig is None else save_to(fig, Path(folder), name)
