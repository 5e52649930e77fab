"""Federation figures of one run: forecast error over time with rounds marked, held-out error by model version,
per-client round timeline."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from plots.rundir import read_csv, read_requests, scenario_name, summary
from plots.style import GREY, OKABE_ITO, figure, save, time_unit

_BIN_CHOICES_S = (60, 120, 300, 600, 900, 1800, 3600)
MAX_ROUNDS = 4  # more rounds than this: the first and last two are drawn
PHASE_COLOURS = {"download": OKABE_ITO[5], "train": OKABE_ITO[1], "upload": OKABE_ITO[2]}
STATUS_MARKS = {  # status -> (marker, colour, label)
    "straggler": ("x", OKABE_ITO[3], "straggler (not aggregated)"),
    "dropout": ("v", OKABE_ITO[6], "dropout (device died)"),
    "failed": ("o", OKABE_ITO[4], "failed (client error)"),
}


def error_bin_s(span_s: float) -> float:
    """Hourly bins for runs of 12 h or more; shorter runs get the smallest listed width giving at most ~30 bins."""
    for width in _BIN_CHOICES_S:
        if span_s / width <= 30:
            return float(width)
    return 3600.0


def _bin_label(width_s: float) -> str:
    return f"{int(width_s // 3600)} h" if width_s >= 3600 else f"{int(width_s // 60)} min"


def draw_forecast_error(run_dir: Path):
    """Binned mean squared forecast error of the served requests and of persistence; FL rounds and versions marked."""
    req = read_requests(run_dir, ["arrival_s", "forecast_error", "baseline_error"])
    if req is None:
        return None
    err, base = req["forecast_error"].astype(np.float64), req["baseline_error"].astype(np.float64)
    scored = np.isfinite(err) & np.isfinite(base)
    if not scored.any():
        return None
    span = float(summary(run_dir).get("simulated_s") or req["arrival_s"].max())
    scale, xlabel = time_unit(span)
    width = error_bin_s(span)
    edges = np.arange(0.0, span + width, width)
    which = np.clip(np.searchsorted(edges, req["arrival_s"][scored], side="right") - 1, 0, len(edges) - 2)
    count = np.bincount(which, minlength=len(edges) - 1).astype(np.float64)
    fig, ax = figure(4.2, 2.6)
    with np.errstate(invalid="ignore", divide="ignore"):
        for values, colour, style, label in ((err[scored], OKABE_ITO[0], "-", "model (served requests)"),
                                             (base[scored], OKABE_ITO[1], "--", "persistence baseline")):
            mse = np.bincount(which, weights=values ** 2, minlength=len(edges) - 1) / count
            ax.plot(edges / scale, np.append(mse, mse[-1]), drawstyle="steps-post", color=colour, linestyle=style,
                    label=label)
    rounds = read_csv(run_dir, "rounds.csv", floats=("start_s", "deadline_s"))
    if rounds is not None and len(rounds["phase"]):
        deploy = rounds["phase"] == "deploy"
        for i, start in enumerate(rounds["start_s"][deploy]):
            ax.axvline(start / scale, color=GREY, linestyle=":", linewidth=0.9, label="FL round start" if i == 0 else None)
        changes = int(np.sum(np.diff(np.concatenate([[0], rounds["model_version"][deploy]])) > 0))
        every = max(1, int(np.ceil(changes / 8)))  # at most ~8 version labels fit across the axis
        version = 0
        for end, new in zip(rounds["deadline_s"][deploy], rounds["model_version"][deploy]):
            if int(new) > version:
                ax.axvline(end / scale, color=OKABE_ITO[2], linewidth=0.9, alpha=0.8,
                           label="new global model" if version == 0 else None)
                if (int(new) % every == 0 or int(new) == 1) and end < 0.93 * span:  # the legend sits at the right
                    ax.annotate(f"v{int(new)}", (end / scale, 1.0), xycoords=("data", "axes fraction"), xytext=(2, -8),
                                textcoords="offset points", fontsize=6, color=OKABE_ITO[2])
                version = int(new)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"MSE per {_bin_label(width)} (z-score²)")
    ax.set_xlim(0, span / scale)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.12)  # headroom for the version labels
    ax.set_title(f"{scenario_name(run_dir)}: forecast error over time")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def forecast_error(run_dir: Path) -> Path | None:
    return save(draw_forecast_error(Path(run_dir)), run_dir, "forecast_error")


def draw_model_versions(run_dir: Path):
    """Held-out MSE of every global edge model version (versions.csv), with the cloud model, the devices'
    personal copies and persistence on the same hours as reference lines."""
    rows = read_csv(run_dir, "versions.csv", floats=("mse", "persistence_mse"))
    if rows is None or not len(rows["mse"]):
        return None
    model = rows.get("model", np.full(len(rows["mse"]), "edge", dtype=object))
    edge = model == "edge"
    if not edge.any():
        return None
    fig, ax = figure(4.2, 2.6)
    versions = rows["model_version"][edge].astype(int)
    ax.plot(versions, rows["mse"][edge], marker="o", markersize=3, color=OKABE_ITO[0], label="global edge model")
    references = [("cloud", OKABE_ITO[2], "-.", "cloud model"), ("personal", OKABE_ITO[4], "-", "personal copies")]
    for name, colour, style, label in references:
        if (model == name).any():
            ax.axhline(float(rows["mse"][model == name][0]), color=colour, linestyle=style, linewidth=1.0, label=label)
    ax.axhline(float(rows["persistence_mse"][edge][0]), color=OKABE_ITO[1], linestyle="--", linewidth=1.0,
               label="persistence")
    ax.set_xlabel("global model version (after round)")
    ax.set_ylabel(f"held-out MSE, {int(rows['held_out_hours'][0])} h (z-score²)")
    ax.set_xlim(versions.min() - 0.3, versions.max() + 0.3)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.05)
    ax.set_title(f"{scenario_name(run_dir)}: model quality by version")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def model_versions(run_dir: Path) -> Path | None:
    return save(draw_model_versions(Path(run_dir)), run_dir, "model_versions")


def _phases(rc: dict, i: int) -> list[tuple[str, float, float]]:
    start, dl_end, tr_start, tr_end, up_end = (rc[k][i] for k in ("start_s", "download_end_s", "train_start_s",
                                                                 "train_end_s", "upload_end_s"))
    out = []
    if np.isfinite(dl_end):
        out.append(("download", start, dl_end))
    if np.isfinite(tr_start) and np.isfinite(tr_end):
        out.append(("train", tr_start, tr_end))
        if np.isfinite(up_end):
            out.append(("upload", tr_end, up_end))
    return [(name, a - start, b - start) for name, a, b in out]


def _death_s(run_dir: Path) -> dict[int, float]:
    """Device -> when its battery emptied (devices.csv death_s; devices that never died are left out)."""
    devices = read_csv(run_dir, "devices.csv", floats=("death_s",))
    if devices is None or "death_s" not in devices:
        return {}
    return {int(d): float(t) for d, t in zip(devices["device"], devices["death_s"]) if np.isfinite(t)}


def _bars(rc: dict, rows: np.ndarray, died: dict) -> tuple[dict, dict, dict, float]:
    """Each phase's bars (start, width) and rows, each status's marks, and the latest phase end."""
    latest = 0.0
    spans: dict[str, list[tuple[float, float]]] = {p: [] for p in PHASE_COLOURS}
    ys: dict[str, list[float]] = {p: [] for p in PHASE_COLOURS}
    marks: dict[str, tuple[list[float], list[float]]] = {s: ([], []) for s in STATUS_MARKS}
    for i in range(len(rows)):
        phases = _phases(rc, i)
        status = str(rc["status"][i])
        if status == "dropout":  # the phases are as planned: cut them where the device died, mark it there
            end = died.get(int(rc["device"][i]), np.nan) - rc["start_s"][i]
            if np.isfinite(end):
                phases = [(name, a, min(b, end)) for name, a, b in phases if a < end] or [("download", 0.0, max(end, 0.0))]
        for name, a, b in phases:
            spans[name].append((a, max(b - a, 0.0)))
            ys[name].append(rows[i])
            latest = max(latest, b)
        if status in marks:
            marks[status][0].append(phases[-1][2] if phases else 0.0)
            marks[status][1].append(rows[i])
    return spans, ys, marks, latest


def draw_fl_timeline(run_dir: Path):
    """One row per selected device per deploy round: download, train and upload bars from the round start."""
    times = ("start_s", "download_end_s", "train_start_s", "train_end_s", "upload_end_s", "deadline_s")
    rc = read_csv(run_dir, "round_clients.csv", floats=times)
    if rc is None or not len(rc["round"]):
        return None
    all_rounds = sorted(set(int(r) for r in rc["round"]))
    shown = all_rounds if len(all_rounds) <= MAX_ROUNDS else all_rounds[:MAX_ROUNDS // 2] + all_rounds[-MAX_ROUNDS // 2:]
    order = np.lexsort((rc["device"], rc["round"]))
    order = order[np.isin(rc["round"][order], shown)]
    rc = {k: v[order] for k, v in rc.items()}
    n = len(rc["round"])
    rows = np.arange(n)[::-1]  # first round at the top
    fig, ax = figure(4.2, float(np.clip(1.2 + 0.06 * n, 2.6, 6.0)))
    bar_height = 0.7
    spans, ys, marks, latest = _bars(rc, rows, _death_s(run_dir))
    for name, colour in PHASE_COLOURS.items():
        if spans[name]:
            ax.barh(ys[name], [w for _, w in spans[name]], left=[a for a, _ in spans[name]], height=bar_height,
                    color=colour, label=name)
    for status, (xs, yy) in marks.items():
        if xs:
            marker, colour, label = STATUS_MARKS[status]
            ax.plot(xs, yy, linestyle="none", marker=marker, color=colour, markersize=5, label=label,
                    markerfacecolor="none" if marker == "o" else colour)
    relative_deadline = rc["deadline_s"] - rc["start_s"]
    finite_deadline = relative_deadline[np.isfinite(relative_deadline)]
    show_deadline = len(finite_deadline) and finite_deadline.max() <= 2.0 * max(latest, 1e-9)
    right = max(latest, finite_deadline.max() if show_deadline else 0.0) * 1.08 or 1.0
    round_ids = sorted(set(int(r) for r in rc["round"]))
    ticks, labels = [], []
    for k, r in enumerate(round_ids):
        in_round = rows[rc["round"] == r]
        lo, hi = in_round.min() - 0.5, in_round.max() + 0.5
        ticks.append((lo + hi) / 2)
        labels.append(f"round {r}")
        if k:
            ax.axhline(hi, color=GREY, linewidth=0.5)
        dl = relative_deadline[rc["round"] == r]
        if show_deadline and np.isfinite(dl).any():
            ax.vlines(np.nanmax(dl), lo, hi, color=OKABE_ITO[3], linestyle="--", linewidth=1.0,
                      label="round deadline" if k == 0 else None)
    if len(finite_deadline) and not show_deadline:  # a legend entry, not a line at the far right of empty space
        ax.plot([], [], color=OKABE_ITO[3], linestyle="--", linewidth=1.0,
                label=f"round deadline:\n{finite_deadline.max():.0f} s (off axis)")
    ax.set_yticks(ticks, labels)
    ax.tick_params(axis="y", length=0)
    ax.set_ylim(-0.5, n - 0.5)
    ax.set_xlim(0, right)
    ax.set_xlabel("time since round start (s)")
    hidden = [r for r in all_rounds if r not in shown]
    omitted = f" (rounds {hidden[0]}-{hidden[-1]} not shown)" if hidden else ""
    ax.set_title(f"{scenario_name(run_dir)}: FL round timeline{omitted}")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def fl_timeline(run_dir: Path) -> Path | None:
    return save(draw_fl_timeline(Path(run_dir)), run_dir, "fl_timeline")
