"""Topology figures of one run: the map (sites, cells, metro links, moving devices' traces), and the registry
of the topology family (the map, per-site load in plots.site_load, the outage and handover timeline in
plots.timeline). Each reads topology.json and its companions; a run without them draws none."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, Patch

from plots.rundir import read_csv, scenario_name, topology
from plots.style import DARK_GREY, GREY, figure, link_colour, name_colours, save

SITE_MARKER = "s"
# a day of random waypoint is a scribble: the map draws a few devices' first two hours (positions.csv has more)
MAX_TRACES = 16
TRACE_WINDOW_S = 2 * 3600.0


def _static_label(cells: list[dict], site: int) -> str:
    counts: dict[str, int] = {}
    for cell in cells:
        if cell["site"] == site:
            for profile, n in cell["static_devices"].items():
                counts[profile] = counts.get(profile, 0) + n
    return ", ".join(f"{n} {p}" for p, n in sorted(counts.items()))


def _draw_cells(ax, cells: list[dict]) -> list:
    kinds = sorted({c["link"] for c in cells if c["radius_m"] is not None})
    for cell in cells:
        if cell["radius_m"] is None:
            continue
        colour = link_colour(cell["link"])
        ax.add_patch(Circle((cell["x_m"], cell["y_m"]), cell["radius_m"], facecolor=colour, alpha=0.10,
                            edgecolor=colour, linewidth=0.8, label="_cell"))
    return [Patch(facecolor=link_colour(k), alpha=0.35, edgecolor=link_colour(k), label=f"{k} cell coverage")
            for k in kinds]


def _draw_metro(ax, doc: dict) -> list:
    where = {s["name"]: (s["x_m"], s["y_m"]) for s in doc["sites"]}
    for link in doc["metro"]:
        (x0, y0), (x1, y1) = (where[n] for n in link["between"])
        ax.plot([x0, x1], [y0, y1], color=DARK_GREY, linewidth=1.4, zorder=4.5, label="_metro")
    return [Line2D([], [], color=DARK_GREY, linewidth=1.4, label="metro link")] if doc["metro"] else []


def _draw_traces(ax, run_dir: Path, doc: dict) -> list:
    """Up to MAX_TRACES tracked devices' paths over the run's first TRACE_WINDOW_S (thin) and where they were at
    its end (dot), coloured by their cells' link kind (or by profile and link when kinds are shared)."""
    track = read_csv(run_dir, "positions.csv", floats=("time_s", "x_m", "y_m"))
    devices = read_csv(run_dir, "devices.csv")
    if track is None or not len(track["time_s"]) or devices is None:
        return []
    kind_of = {int(d): f"{p} on {l}" for d, p, l in zip(devices["device"], devices["profile"], devices["link"])}
    moving: dict[str, int] = {}
    for group in doc["moving"]:
        key = f"{group['profile']} on {group['link']}"
        moving[key] = moving.get(key, 0) + group["count"]
    links = {group["link"] for group in doc["moving"]}
    # one moving entry per link kind: its traces take its cells' colour; otherwise a colour per entry kind
    colours = ({f"{g['profile']} on {g['link']}": link_colour(g["link"]) for g in doc["moving"]}
               if len(links) == len(moving) else name_colours(moving))
    shown: dict[str, int] = {}
    tracked = np.unique(track["device"].astype(int))
    window = min(TRACE_WINDOW_S, float(doc["duration_s"]))
    for dev in tracked[np.linspace(0, len(tracked) - 1, min(MAX_TRACES, len(tracked))).astype(int)].tolist():
        rows = (track["device"] == dev) & (track["time_s"] <= window)
        order = np.argsort(track["time_s"][rows], kind="stable")
        x, y = track["x_m"][rows][order], track["y_m"][rows][order]
        kind = kind_of.get(dev, "?")
        shown[kind] = shown.get(kind, 0) + 1
        colour = colours.get(kind, GREY)
        ax.plot(x, y, color=colour, linewidth=0.3, alpha=0.5, zorder=3, label="_trace")
        ax.plot(x[-1:], y[-1:], "o", color=colour, markersize=1.8, zorder=4, label="_end")
    return [Line2D([], [], color=colours.get(k, GREY), linewidth=0.8, marker="o", markersize=2,
                   label=f"{k}: {n} of {moving.get(k, n)} moving, {_hours(window)} trace and end")
            for k, n in sorted(shown.items())]


def _hours(seconds: float) -> str:
    return f"first {seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min"


def draw_topology_map(run_dir: Path):
    """Sites (squares), cells (coverage circles by link kind), metro links, traces of moving devices (metres)."""
    doc = topology(run_dir)
    if doc is None or not doc.get("sites_declared"):
        return None
    fig, ax = figure(7.0, 4.0)
    handles = _draw_cells(ax, doc["cells"]) + _draw_metro(ax, doc)
    handles += _draw_traces(ax, Path(run_dir), doc)
    sites = doc["sites"]
    x, y = np.array([s["x_m"] for s in sites]), np.array([s["y_m"] for s in sites])
    ax.scatter(x, y, marker=SITE_MARKER, s=22, color="black", zorder=5, label="edge site")
    info = []
    for i, site in enumerate(sites):
        ax.annotate(site["name"], (site["x_m"], site["y_m"]), xytext=(3, -7), textcoords="offset points",
                    fontsize=5.5, zorder=6)
        static = _static_label(doc["cells"], i)
        info.append(f"{site['name']}: {site['cores']} core{'s' if site['cores'] != 1 else ''}" + (f"; {static}" if static else ""))
    handles.insert(0, Line2D([], [], marker=SITE_MARKER, color="black", linestyle="", markersize=4,
                             label=f"edge site ({len(sites)})"))
    legend = ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=6)
    legend.set_in_layout(True)
    ax.text(1.04, 0.0, "server cores; static devices\n" + "\n".join(info), transform=ax.transAxes,
            fontsize=5.5, va="bottom", ha="left")
    ax.set_aspect("equal", adjustable="box")
    ax.autoscale_view()
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_title(f"{scenario_name(run_dir)}: sites, cells and device traces")
    ax.grid(True, alpha=0.2)
    return fig


def topology_map(run_dir: Path) -> Path | None:
    return save(draw_topology_map(Path(run_dir)), run_dir, "topology_map")


def topology_figures() -> dict:
    """The topology family's figure functions by name; each returns the PNG path, or None without its input."""
    from plots.site_load import site_load
    from plots.timeline import incident_timeline

    return {f.__name__: f for f in (topology_map, site_load, incident_timeline)}


MAX_REPORT_RUNS = 8  # comparison reports: site load and timeline of at most this many policy configurations


def report_figures(run_dirs: list[Path], out_dir: Path) -> list[Path]:
    """The topology family for a comparison report, into OUT_DIR/plots/: the map once (the runs compared share
    a scenario), then site load and timeline of the first run of each policy configuration."""
    from plots.rundir import policy_params, summary
    from plots.site_load import draw_site_load
    from plots.timeline import draw_incident_timeline
    from plots.style import save_to

    runs = [Path(d) for d in run_dirs if topology(Path(d)) is not None]
    if not runs:
        return []
    folder, out = Path(out_dir) / "plots", []
    fig = draw_topology_map(runs[0])
    if fig is not None:
        out.append(save_to(fig, folder, "topology_map"))
    firsts: dict[str, Path] = {}
    for run in sorted(runs):
        key = f"{summary(run).get('policy', '?')} {sorted(policy_params(run).items())}"
        firsts.setdefault(key, run)
    for run in list(firsts.values())[:MAX_REPORT_RUNS]:
        for name, draw in (("site_load", draw_site_load), ("incident_timeline", draw_incident_timeline)):
            fig = draw(run)
            if fig is not None:
                out.append(save_to(fig, folder, f"{name}_{run.name}"))
    return out
