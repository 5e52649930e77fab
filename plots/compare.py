"""Comparison figures and report across run directories (policies x seeds), from their summary files."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from plots.style import OKABE_ITO, figure, save
from sim.compare import METRICS, comparison_rows

BARS = ("latency_mean_ms", "latency_p95_ms", "deadline_miss_pct", "energy_per_request_mj", "forecast_mse")
UNITS = {"latency_mean_ms": "mean latency (ms)", "latency_p95_ms": "p95 latency (ms)",
         "deadline_miss_pct": "deadline misses (%)", "energy_per_request_mj": "energy per request (mJ)",
         "forecast_mse": "forecast MSE (z-scored)"}


def _label(run_dir: Path) -> str:
    """The policy, with lyapunov's V when set, so each V is its own point."""
    scenario = yaml.safe_load((run_dir / "scenario.yaml").read_text())
    policy = scenario["policy"]
    if policy["name"] == "lyapunov" and "V" in policy.get("params", {}):
        return f"lyapunov V={policy['params']['V']:g}"
    return policy["name"]


# one fixed colour per built-in policy (Okabe-Ito, then Paul Tol's colour-blind-safe extras)
POLICY_COLOURS = dict(zip(
    ("local", "edge", "cloud", "greedy", "greedy-latency", "deadline-energy", "battery-threshold", "lyapunov",
     "linucb", "oracle", "random"), OKABE_ITO + ["#332288", "#88CCEE", "#999933"]))


def colours(labels: list[str]) -> dict[str, str]:
    """A stable colour per policy: the same policy (any V of lyapunov) has the same colour in every figure."""
    return {label: POLICY_COLOURS.get(label.split(" ")[0], "#777777") for label in labels}


def comparison(run_dirs: list[Path]) -> tuple[list[dict], str]:
    groups: dict[str, list[dict]] = {}
    for run_dir in run_dirs:
        groups.setdefault(_label(run_dir), []).append(json.loads((run_dir / "summary.json").read_text()))
    scenario = next(iter(groups.values()))[0].get("scenario", "comparison")
    return comparison_rows(groups), scenario


def render_comparison(run_dirs: list[Path], out_dir: Path) -> list[Path]:
    """Bars with 95% CIs per metric and the energy-latency Pareto plot, into out_dir/plots/."""
    rows, scenario = comparison(run_dirs)
    palette = colours([r["policy"] for r in rows])
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for metric in BARS:
        fig, ax = figure()
        x = np.arange(len(rows))
        ax.bar(x, [r[metric] for r in rows], yerr=[np.nan_to_num(r[f"{metric}_ci95"]) for r in rows],
               color=[palette[r["policy"]] for r in rows], capsize=3)
        ax.set_xticks(x, [r["policy"] for r in rows], rotation=20, ha="right")
        ax.set_ylabel(UNITS[metric])
        ax.set_title(f"{scenario}: {UNITS[metric]} by policy (95% CI)")
        paths.append(save(fig, out_dir, f"compare_{metric}"))
    fig, ax = figure()
    for r in rows:
        ax.errorbar(r["energy_per_request_mj"], r["latency_mean_ms"], xerr=np.nan_to_num(r["energy_per_request_mj_ci95"]),
                    yerr=np.nan_to_num(r["latency_mean_ms_ci95"]), fmt="o", color=palette[r["policy"]],
                    label=r["policy"], capsize=2)
    ax.set_xlabel("energy per request (mJ)")
    ax.set_ylabel("mean latency (ms)")
    ax.set_title(f"{scenario}: energy-latency trade-off")
    ax.legend(fontsize=6)
    paths.append(save(fig, out_dir, "compare_pareto"))
    return paths


def write_report(run_dirs: list[Path], out_dir: Path) -> tuple[Path, Path]:
    """report.md and report.html: the comparison table and every comparison figure."""
    rows, scenario = comparison(run_dirs)
    figures = render_comparison(run_dirs, out_dir)
    header = "| policy | seeds | " + " | ".join(METRICS) + " |"
    lines = [f"# {scenario}: policy comparison", "", f"{len(run_dirs)} runs; mean ± 95% CI over seeds.", "",
             header, "|" + "---|" * (len(METRICS) + 2)]
    for r in rows:
        lines.append(f"| {r['policy']} | {r['seeds']} | " + " | ".join(
            f"{r[m]:.4g} ± {r[m + '_ci95']:.2g}" for m in METRICS) + " |")
    lines += [""] + [f"![{p.stem}](plots/{p.name})" for p in figures]
    markdown = out_dir / "report.md"
    markdown.write_text("\n".join(lines) + "\n")
    cells = "".join(f"<tr><td>{r['policy']}</td><td>{r['seeds']}</td>" + "".join(
        f"<td>{r[m]:.4g} ± {r[m + '_ci95']:.2g}</td>" for m in METRICS) + "</tr>" for r in rows)
    html = (f"<!doctype html><html><head><meta charset='utf-8'><title>{scenario}</title></head><body>"
            f"<h1>{scenario}: policy comparison</h1><table border='1'><tr><th>policy</th><th>seeds</th>"
            + "".join(f"<th>{m}</th>" for m in METRICS) + f"</tr>{cells}</table>"
            + "".join(f"<p><img src='plots/{p.name}' width='600'></p>" for p in figures) + "</body></html>")
    page = out_dir / "report.html"
    page.write_text(html)
    return markdown, page
