"""Network figure of one run: utilisation of each shared link over time."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from plots.rundir import read_csv, scenario_name, summary
from plots.style import GREY, figure, name_styles, save, time_unit


def _split(link: str) -> tuple[str, str]:
    """'raspberry-pi-4/wifi/up' -> ('raspberry-pi-4/wifi', 'up'); a name without a direction keeps it whole."""
    head, _, tail = link.rpartition("/")
    return (head, tail) if tail in ("up", "down") and head else (link, "")


def draw_link_utilisation(run_dir: Path):
    """Busy fraction of every link per sample interval (%): colour per access link, solid uplink, dashed downlink
    (past 12 access links the colours come round with other line styles, so no two links look alike)."""
    links = read_csv(run_dir, "links.csv", floats=("time_s", "utilisation", "throughput_bps"))
    if links is None or not len(links["time_s"]):
        return None
    span = float(summary(run_dir).get("simulated_s") or np.nanmax(links["time_s"]))
    scale, xlabel = time_unit(span)
    names = sorted(set(links["link"]), key=lambda n: (_split(n)[0] == "wan", _split(n)))
    access = [_split(n)[0] for n in names if _split(n)[0] != "wan"]
    styles = {**name_styles(access, variants=2), "wan": [(GREY, "-"), (GREY, "--")]}
    fig, ax = figure(4.2, 2.6)
    for name in names:
        rows = links["link"] == name
        order = np.argsort(links["time_s"][rows])
        head, direction = _split(name)
        colour, style = styles[head][direction == "down"]
        ax.plot(links["time_s"][rows][order] / scale, links["utilisation"][rows][order] * 100,
                color=colour, linestyle=style, linewidth=0.9, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("link utilisation (% of interval busy)")
    ax.set_xlim(0, span / scale)
    peak = float(np.nanmax(links["utilisation"])) * 100 if np.isfinite(links["utilisation"]).any() else 0.0
    ax.set_ylim(0, min(102.0, max(peak * 1.15, 1.0)))  # lightly loaded links stay readable
    ax.set_title(f"{scenario_name(run_dir)}: link utilisation")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=6, handlelength=2.2)
    return fig


def link_utilisation(run_dir: Path) -> Path | None:
    return save(draw_link_utilisation(Path(run_dir)), run_dir, "link_utilisation")
