"""Per-run figures beyond the latency CDF: breakdown, energy, battery, links, forecast error, FL timeline."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from plots.style import OKABE_ITO, figure, save

COMPONENTS = ("compute", "radio_tx", "radio_rx", "radio_tail", "idle")
PARTS = ("queue_s", "transfer_s", "compute_s", "propagation_s")


def _csv(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open() as handle:
        return list(csv.DictReader(handle))


def _name(run_dir: Path) -> str:
    return json.loads((run_dir / "summary.json").read_text()).get("scenario", run_dir.name)


def _profiles(run_dir: Path) -> tuple[list[str], np.ndarray]:
    """Device classes in order of first appearance and the class index of every device."""
    devices = _csv(run_dir / "devices.csv")
    names = list(dict.fromkeys(d["profile"] for d in devices))
    return names, np.array([names.index(d["profile"]) for d in devices])


def latency_breakdown(run_dir: Path) -> Path | None:
    """Mean latency split into queueing, transfer, compute and propagation, per device class."""
    if not (run_dir / "devices.csv").exists():
        return None
    names, klass = _profiles(run_dir)
    table = pq.read_table(run_dir / "requests.parquet", columns=["device", "dropped", *PARTS])
    served = table["dropped"].to_numpy() == 0
    owner = klass[table["device"].to_numpy()[served]]
    fig, ax = figure(4.6, 2.6)
    bottom = np.zeros(len(names))
    for i, part in enumerate(PARTS):
        values = table[part].to_numpy()[served].astype(float) * 1e3
        means = np.array([values[owner == k].mean() if np.any(owner == k) else 0.0 for k in range(len(names))])
        ax.bar(names, means, bottom=bottom, color=OKABE_ITO[i], label=part.removesuffix("_s"))
        bottom += means
    ax.set_ylabel("mean latency (ms)")
    ax.set_title(f"{_name(run_dir)}: latency breakdown by device class")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.tick_params(axis="x", labelrotation=15)
    return save(fig, run_dir, "latency_breakdown")


def energy_per_request(run_dir: Path) -> Path | None:
    """Device energy per served request, stacked by component, per device class."""
    devices = _csv(run_dir / "devices.csv")
    if not devices:
        return None
    names = list(dict.fromkeys(d["profile"] for d in devices))
    fig, ax = figure(4.6, 2.6)
    bottom = np.zeros(len(names))
    served = np.array([sum(int(d["served"]) for d in devices if d["profile"] == n) for n in names], float)
    for i, part in enumerate(COMPONENTS):
        total = np.array([sum(float(d[f"energy_{part}_j"]) for d in devices if d["profile"] == n) for n in names])
        values = total / np.maximum(served, 1) * 1e3
        ax.bar(names, values, bottom=bottom, color=OKABE_ITO[i], label=part.replace("_", " "))
        bottom += values
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_ylabel("energy per served request (mJ)")
    ax.set_title(f"{_name(run_dir)}: device energy per request")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.tick_params(axis="x", labelrotation=15)
    return save(fig, run_dir, "energy_per_request")


def battery_soc(run_dir: Path) -> Path | None:
    """State of charge over time per battery-powered class: median line, min-max band, deaths marked."""
    rows = _csv(run_dir / "battery.csv")
    if not rows:
        return None
    fig, ax = figure()
    deaths = [(d["profile"], float(d["death_s"])) for d in _csv(run_dir / "devices.csv") if d["death_s"]]
    for i, profile in enumerate(dict.fromkeys(r["profile"] for r in rows)):
        mine = [r for r in rows if r["profile"] == profile]
        t = np.array([float(r["time_s"]) for r in mine]) / 3600
        colour = OKABE_ITO[i % len(OKABE_ITO)]
        ax.plot(t, [float(r["soc_median"]) for r in mine], color=colour, label=f"{profile} (median)")
        ax.fill_between(t, [float(r["soc_min"]) for r in mine], [float(r["soc_max"]) for r in mine],
                        color=colour, alpha=0.2)
        died = [s / 3600 for p, s in deaths if p == profile]
        if died:
            ax.plot(died, [0.0] * len(died), "x", color=colour, label=f"{profile}: battery empty")
    ax.set_xlabel("simulated time (h)")
    ax.set_ylabel("state of charge")
    ax.set_ylim(-0.03, 1.03)
    ax.set_title(f"{_name(run_dir)}: battery state of charge")
    ax.legend()
    return save(fig, run_dir, "battery_soc")


def link_utilisation(run_dir: Path) -> Path | None:
    """Share of time each shared link carried at least one flow, per sampling interval."""
    rows = _csv(run_dir / "links.csv")
    if not rows:
        return None
    fig, ax = figure()
    for i, link in enumerate(dict.fromkeys(r["link"] for r in rows)):
        mine = [r for r in rows if r["link"] == link]
        ax.plot([float(r["time_s"]) / 3600 for r in mine], [100 * float(r["utilisation"]) for r in mine],
                color=OKABE_ITO[i % len(OKABE_ITO)], label=link, linewidth=0.8)
    ax.set_xlabel("simulated time (h)")
    ax.set_ylabel("link busy (%)")
    ax.set_title(f"{_name(run_dir)}: link utilisation")
    ax.legend(fontsize=5, ncols=2)
    return save(fig, run_dir, "link_utilisation")


def forecast_error(run_dir: Path) -> Path | None:
    """Hourly MSE of the served forecasts and of persistence, with FL rounds marked."""
    table = pq.read_table(run_dir / "requests.parquet", columns=["arrival_s", "forecast_error", "baseline_error"])
    hours = (table["arrival_s"].to_numpy() // 3600).astype(int)
    errors = table["forecast_error"].to_numpy().astype(float)
    baseline = table["baseline_error"].to_numpy().astype(float)
    ok = np.isfinite(errors) & np.isfinite(baseline)
    if not ok.any():
        return None
    span = np.unique(hours[ok])
    fig, ax = figure()
    ax.plot(span, [np.mean(errors[ok & (hours == h)] ** 2) for h in span], "o-", color=OKABE_ITO[0],
            label="served forecasts")
    ax.plot(span, [np.mean(baseline[ok & (hours == h)] ** 2) for h in span], "s--", color=OKABE_ITO[3],
            label="persistence")
    for r in _csv(run_dir / "rounds.csv"):
        if r["phase"] == "deploy":
            ax.axvline(float(r["deadline_s"]) / 3600, color="grey", linewidth=0.6, linestyle=":")
            ax.text(float(r["deadline_s"]) / 3600, ax.get_ylim()[1] * 0.97, f"v{r['model_version']}", fontsize=5,
                    ha="left", va="top")
    ax.set_xlabel("simulated hour")
    ax.set_ylabel("MSE (z-scored)")
    ax.set_title(f"{_name(run_dir)}: forecast error (dotted: new global model)")
    ax.legend()
    return save(fig, run_dir, "forecast_error")


def fl_timeline(run_dir: Path) -> Path | None:
    """Per selected device and round: download, training and upload bars, outcome, deadline line."""
    rows = _csv(run_dir / "round_clients.csv")
    if not rows:
        return None
    fig, ax = figure(3.5, max(2.0, 0.12 * len(rows) + 0.8))
    colours = {"download": OKABE_ITO[2], "train": OKABE_ITO[0], "upload": OKABE_ITO[1]}
    marks = {"straggler": ("x", OKABE_ITO[3]), "failed": ("v", "black"), "dropout": ("D", OKABE_ITO[4])}
    for y, r in enumerate(rows):
        t = {k: float(r[k]) if r[k] not in ("", "nan") else np.nan for k in r if k.endswith("_s")}
        start = t["start_s"]
        spans = (("download", start, t["download_end_s"]), ("train", t["train_start_s"], t["train_end_s"]),
                 ("upload", t["train_end_s"], t["upload_end_s"]))
        for label, a, b in spans:
            if np.isfinite(a) and np.isfinite(b):
                ax.barh(y, b - a, left=a - start, color=colours[label], height=0.7,
                        label=label if y == 0 or label not in ax.get_legend_handles_labels()[1] else None)
        if r["status"] in marks:
            end = np.nanmax([t["upload_end_s"], t["train_end_s"], start]) - start
            symbol, colour = marks[r["status"]]
            ax.plot(end, y, symbol, color=colour, label=r["status"]
                    if r["status"] not in ax.get_legend_handles_labels()[1] else None)
    ax.axvline(float(rows[0]["deadline_s"]) - float(rows[0]["start_s"]), color="grey", linestyle="--",
               label="round deadline")
    ax.set_yticks(range(len(rows)), [f"r{r['round']} d{r['device']}" for r in rows], fontsize=4)
    ax.set_xlabel("seconds since round start")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_title(f"{_name(run_dir)}: FL round timeline")
    ax.legend(fontsize=5, loc="lower right")
    ax.invert_yaxis()
    return save(fig, run_dir, "fl_timeline")


RUN_FIGURES = (latency_breakdown, energy_per_request, battery_soc, link_utilisation, forecast_error, fl_timeline)
