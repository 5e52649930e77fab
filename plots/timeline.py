"""Outage and handover timeline of one run: outage windows per component, cell changes and coverage losses
over time, moving devices out of coverage, and the requests lost (timeouts, no coverage) on the same clock."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from plots.site_load import span_text
from plots.rundir import lost_arrivals, outage_windows, read_csv, scenario_name, topology
from plots.style import GREY, OKABE_ITO, figure, name_colours, save, time_unit

BINS = 96  # a day in quarter hours
KIND_COLOURS = {"scheduled": OKABE_ITO[3], "random": OKABE_ITO[4]}  # outages.csv's kinds
LOSS_COLOURS = {"timeout": OKABE_ITO[3], "no-coverage": OKABE_ITO[5], "battery-empty": OKABE_ITO[6]}
# a request still running when the run ends is not an incident: not drawn
NOT_INCIDENTS = ("unfinished",)


def coverage_series(handovers: dict, at_start: int) -> tuple[np.ndarray, np.ndarray]:
    """Event times (s, starting at 0) and the number of moving devices out of coverage from each on."""
    lost = handovers["to_cell"] == ""
    back = handovers["from_cell"] == ""
    change = lost.astype(np.int64) - back.astype(np.int64)
    times = np.concatenate([[0.0], handovers["time_s"]])
    return times, at_start + np.concatenate([[0], np.cumsum(change)])


def _outage_panel(ax, windows, scale: float) -> None:
    components = list(dict.fromkeys(w[0] for w in windows))
    kinds = list(dict.fromkeys(w[1] for w in windows))
    colours = {k: KIND_COLOURS.get(k) or name_colours(kinds)[k] for k in kinds}
    for component, kind, start, end in windows:
        row = components.index(component)
        ax.broken_barh([(start / scale, (end - start) / scale)], (row - 0.35, 0.7), color=colours[kind],
                       label=f"{kind} outage")
    ax.set_yticks(range(len(components)), components)
    ax.set_ylim(len(components) - 0.5, -0.5)
    ax.set_ylabel("component down")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=6)


def _handover_panels(changes_ax, out_ax, handovers: dict, doc: dict, edges: np.ndarray, scale: float) -> None:
    both = (handovers["from_cell"] != "") & (handovers["to_cell"] != "")
    per_min = np.diff(edges) / 60.0
    for mask, label, colour in ((both, "handovers (cell to cell)", OKABE_ITO[0]),
                                (handovers["to_cell"] == "", "coverage lost", OKABE_ITO[5]),
                                (handovers["from_cell"] == "", "coverage regained", GREY)):
        counts = np.histogram(handovers["time_s"][mask], edges)[0] / per_min
        changes_ax.stairs(counts, edges / scale, color=colour, label=label, linewidth=0.9)
    changes_ax.set_ylabel("events per minute")
    changes_ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=6)
    times, out = coverage_series(handovers, int(doc.get("out_of_coverage_at_start", 0)))
    moving = sum(g["count"] for g in doc["moving"])
    out_ax.step(np.append(times, doc["duration_s"]) / scale, np.append(out, out[-1]), where="post",
                color=OKABE_ITO[5], linewidth=0.9, label=f"out of coverage (of {moving:,} moving)")
    out_ax.set_ylabel("moving devices")
    out_ax.set_ylim(0, None)
    out_ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=6)
    written, total = doc.get("handover_rows_written", 0), doc.get("handover_events", 0)
    if written < total:  # handovers.csv keeps the first rows only: say where it stops
        end = float(handovers["time_s"][-1]) / scale
        for ax in (changes_ax, out_ax):
            ax.axvline(end, color="black", linewidth=0.6, linestyle=":",
                       label=f"handovers.csv ends: first {written:,} of {total:,} events")
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=6)


def _loss_panel(ax, lost: dict, edges: np.ndarray, scale: float) -> None:
    per_min = np.diff(edges) / 60.0
    for reason, arrivals in sorted(lost.items()):
        ax.stairs(np.histogram(arrivals, edges)[0] / per_min, edges / scale,
                  color=LOSS_COLOURS.get(reason, GREY), linewidth=0.9, label=f"{reason} ({len(arrivals):,})")
    ax.set_ylabel("requests lost per minute")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=6)


def draw_incident_timeline(run_dir: Path):
    """Stacked panels on one time axis: outage windows, cell changes per minute, moving devices out of coverage,
    requests lost per minute by reason (each panel only when the run has it)."""
    doc = topology(run_dir)
    if doc is None:
        return None
    windows = outage_windows(run_dir)
    handovers = read_csv(run_dir, "handovers.csv", floats=("time_s",), strings=("from_cell", "to_cell"))
    lost = {r: a for r, a in lost_arrivals(run_dir).items() if r not in NOT_INCIDENTS and len(a)}
    panels = (["outages"] if windows else []) + (["changes", "coverage"] if handovers is not None else [])
    if not panels:
        return None
    panels += ["lost"] if lost else []
    heights = [max(0.6, 0.25 * len({w[0] for w in windows})) if p == "outages" else 1.0 for p in panels]
    fig, axes = figure(6.4, 1.1 + 1.0 * len(panels), nrows=len(panels), sharex=True,
                       gridspec_kw={"height_ratios": heights})
    axes = np.atleast_1d(axes)
    ax_of = dict(zip(panels, axes))
    duration = doc["duration_s"]
    scale, xlabel = time_unit(duration)
    edges = np.linspace(0.0, duration, BINS + 1)
    if windows:
        _outage_panel(ax_of["outages"], windows, scale)
    if handovers is not None:
        _handover_panels(ax_of["changes"], ax_of["coverage"], handovers, doc, edges, scale)
    if lost:
        _loss_panel(ax_of["lost"], lost, edges, scale)
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.set_xlim(0, duration / scale)
    axes[-1].set_xlabel(xlabel)
    axes[0].set_title(f"{scenario_name(run_dir)}: outages, handovers and lost requests "
                      f"(per {span_text(duration / BINS)})")
    return fig


def incident_timeline(run_dir: Path) -> Path | None:
    return save(draw_incident_timeline(Path(run_dir)), run_dir, "incident_timeline")
