"""Comparison figures over many runs: per-policy bars with 95% CIs over seeds, energy-latency Pareto plot."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from plots.groups import ENERGY_LABEL, METRICS, Group, Metric, group_runs, mean_ci, scenario_title
from plots.style import figure, policy_colour, policy_marker, save_to

__all__ = ["ENERGY_LABEL", "METRICS", "Group", "Metric", "draw_metric_bars", "draw_pareto", "group_runs", "mean_ci",
           "render_comparison", "render_groups", "scenario_title"]


def draw_metric_bars(groups: list[Group], metric: Metric):
    """One bar per policy configuration: mean over seeds with a Student t 95% CI whisker."""
    stats = [mean_ci(g.values(metric.key, metric.scale)) for g in groups]
    if not any(math.isfinite(m) for m, _ in stats):
        return None
    fig, ax = figure(max(2.6, 1.2 + 0.45 * len(groups)), 2.6)
    x = np.arange(len(groups))
    means = np.array([m for m, _ in stats])
    half = np.array([h if math.isfinite(h) else 0.0 for _, h in stats])
    bars = ax.bar(x, np.nan_to_num(means), 0.65, yerr=half, capsize=3, error_kw={"linewidth": 0.8},
                  color=[policy_colour(g.policy) for g in groups], edgecolor="black", linewidth=0.4)
    ax.bar_label(bars, labels=[f"{m:.3g}" if math.isfinite(m) else "n/a" for m in means], padding=2, fontsize=6)
    ax.set_xticks(x, [g.label for g in groups], rotation=30, ha="right", rotation_mode="anchor")
    ax.set_ylabel(metric.label)
    top = np.nanmax(means + half) if np.isfinite(means).any() else 1.0
    ax.set_ylim(0, top * 1.15 if top > 0 else 1.0)
    seeds = sorted({len(g.values(metric.key)) for g in groups})
    count = f"{seeds[0]}" if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"
    ax.set_title(f"{scenario_title(groups)}: {metric.title}\n(mean, 95% CI over {count} seeds)")
    ax.grid(True, axis="y", alpha=0.3)
    return fig


def draw_pareto(groups: list[Group]):
    """Mean energy per request against mean latency, one point per policy configuration, CI whiskers."""
    fig, ax = figure(4.0, 2.8)
    drawn, in_legend = 0, set()
    at: dict[tuple[str, str], list[str]] = {}  # point (as 3 significant digits) -> the configurations drawn there
    for g in groups:
        (ex, exh), (ly, lyh) = (mean_ci(g.values("energy_per_request_j", 1e3)),
                                mean_ci(g.values("latency_mean_s", 1e3)))
        if not (math.isfinite(ex) and math.isfinite(ly)):
            continue
        colour = policy_colour(g.policy)
        ax.errorbar(ex, ly, xerr=exh if math.isfinite(exh) else None, yerr=lyh if math.isfinite(lyh) else None,
                    marker=policy_marker(g.policy), color=colour, markersize=6, capsize=2, linewidth=0.8,
                    markeredgecolor="black", markeredgewidth=0.4, linestyle="none",
                    label=None if g.policy in in_legend else g.policy)  # one legend entry per policy
        in_legend.add(g.policy)
        if g.variant:
            ax.annotate(g.variant, (ex, ly), xytext=(4, 4), textcoords="offset points", fontsize=6, color=colour)
        at.setdefault((f"{ex:.3g}", f"{ly:.3g}"), []).append(g.label)
        drawn += 1
    for (ex, ly), labels in at.items():
        if len(labels) > 1:  # the last marker hides the others: name them all
            ax.annotate("same point: " + ", ".join(labels), (float(ex), float(ly)), xytext=(4, -9),
                        textcoords="offset points", fontsize=6, color="black")
    if not drawn:
        import matplotlib.pyplot as plt

        plt.close(fig)
        return None
    ax.set_xlabel(ENERGY_LABEL)
    ax.set_ylabel("mean latency (ms)")
    ax.set_title(f"{scenario_title(groups)}: energy-latency trade-off (95% CI)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def render_comparison(run_dirs: list[Path], out_dir: Path) -> list[Path]:
    """Bars per metric and the Pareto plot into OUT_DIR/plots/ (PNG and PDF); the PNG paths."""
    return render_groups(group_runs([Path(d) for d in run_dirs]), out_dir)


def render_groups(groups: list[Group], out_dir: Path) -> list[Path]:
    """render_comparison for runs already grouped."""
    folder = Path(out_dir) / "plots"
    out = []
    for metric in METRICS:
        fig = draw_metric_bars(groups, metric)
        if fig is not None:
            out.append(save_to(fig, folder, f"compare_{metric.name}"))
    fig = draw_pareto(groups)
    if fig is not None:
        out.append(save_to(fig, folder, "compare_pareto"))
    return out
