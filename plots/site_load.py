"""Per-site load of one run: each edge server's busy share over time and over the run, and the requests each
site served (received directly, forwarded to it) or passed on over the metro."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from plots.rundir import read_requests, scenario_name, summary, topology
from plots.style import OKABE_ITO, figure, save, series_styles, time_unit

BINS = 48  # busy share per bin: a day in half hours
LOG_SPREAD = 100.0  # busy shares further apart than this go on a log axis


def span_text(seconds: float) -> str:
    """A bin length for a title: '30 min', '12.5 s', '2 h'."""
    for unit, size in (("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def sample_share(run_dir: Path) -> float:
    """The share of the run's requests that requests.parquet holds (1 unless output.requests is a sample)."""
    s = summary(run_dir)
    total, written = s.get("requests"), s.get("requests_written")
    return written / total if total and written is not None and written < total else 1.0


def busy_share_series(rows: dict, doc: dict, share: float, bins: int = BINS) -> tuple[np.ndarray, np.ndarray]:
    """Bin edges (s) and each site's busy share per bin: compute seconds served there by arrival time over
    cores x bin length, the rows scaled up by 1 / share when they are a device sample."""
    edges = np.linspace(0.0, doc["duration_s"], bins + 1)
    out = np.zeros((len(doc["sites"]), bins))
    which = np.clip(np.searchsorted(edges, rows["arrival_s"], side="right") - 1, 0, bins - 1)
    for k, site in enumerate(doc["sites"]):
        mine = rows["site"] == k
        busy = np.bincount(which[mine], weights=rows["compute_s"][mine].astype(np.float64), minlength=bins)
        out[k] = busy / share / (site["cores"] * np.diff(edges))
    return edges, out


def request_counts(rows: dict, n_sites: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per site: served requests it received directly, served requests forwarded to it, requests it forwarded."""
    site, forwarded = rows["site"].astype(np.int64), rows["forwarded"].astype(np.int64)
    at_edge = site >= 0
    direct = np.bincount(site[at_edge & (forwarded < 0)], minlength=n_sites)
    forwarded_in = np.bincount(site[at_edge & (forwarded >= 0)], minlength=n_sites)
    forwarded_out = np.bincount(forwarded[forwarded >= 0], minlength=n_sites)
    return direct, forwarded_in, forwarded_out


def draw_site_load(run_dir: Path):
    """Busy share over time per site (%), whole-run busy share per site (%), requests per site by how they came."""
    doc = topology(run_dir)
    rows = read_requests(run_dir, ["arrival_s", "site", "forwarded", "compute_s"]) if doc else None
    if doc is None or rows is None:
        return None
    sites, share = doc["sites"], sample_share(run_dir)
    names = [s["name"] for s in sites]
    styles = series_styles(names)
    fig, (over_time, whole, counts) = figure(7.2, 2.8, ncols=3, gridspec_kw={"width_ratios": [2.2, 1, 1.3]})
    edges, busy = busy_share_series(rows, doc, share)
    scale, xlabel = time_unit(doc["duration_s"])
    middle = (edges[:-1] + edges[1:]) / 2 / scale
    for k, name in enumerate(names):
        colour, dash = styles[name]
        over_time.plot(middle, busy[k] * 100, color=colour, linestyle=dash, linewidth=0.9, label=name)
    over_time.set_xlabel(xlabel)
    over_time.set_xlim(0, doc["duration_s"] / scale)
    positive = busy[busy > 0] * 100
    if len(positive) and positive.max() > LOG_SPREAD * positive.min():  # a busy site would flatten the rest
        over_time.set_yscale("log")
        over_time.set_ylabel("server busy share (%, log scale; 0 not drawn)")
    else:
        over_time.set_ylabel("server busy share (%)")
        over_time.set_ylim(0, None)
    sampled = f", estimated from a {share:.0%} device sample" if share < 1 else ""
    over_time.set_title(f"per {span_text(np.diff(edges)[0])}, by arrival{sampled}")
    if not len(rows["site"]) or (rows["site"] < 0).all():
        over_time.text(0.5, 0.5, "no request was served at an edge site", transform=over_time.transAxes,
                       ha="center", fontsize=7)
    over_time.grid(True, alpha=0.3)
    over_time.legend(fontsize=5, ncols=2 if len(names) > 6 else 1)
    y = np.arange(len(names))
    exact = [s["busy_s"] / (s["cores"] * doc["duration_s"]) * 100 for s in sites]
    bars = whole.barh(y, exact, color=[styles[n][0] for n in names], label="server busy share")
    whole.bar_label(bars, labels=[f"{v:.2g}%" for v in exact], fontsize=5, padding=1)
    whole.set_xlim(0, max(max(exact) * 1.3, 1e-9))
    whole.set_yticks(y, names)
    whole.invert_yaxis()
    whole.set_xlabel("busy share over the run (%)")
    whole.set_title("servers' own busy time")
    direct, forwarded_in, forwarded_out = request_counts(rows, len(names))
    height = 0.4
    counts.barh(y - height / 2, direct / share, height, color=OKABE_ITO[0], label="served, received directly")
    counts.barh(y - height / 2, forwarded_in / share, height, left=direct / share, color=OKABE_ITO[1],
                label="served, forwarded here")
    counts.barh(y + height / 2, forwarded_out / share, height, color=OKABE_ITO[3], hatch="//",
                label="forwarded on to another site")
    counts.set_yticks(y, [])
    counts.invert_yaxis()
    counts.set_xlabel("requests" + (" (estimated)" if share < 1 else ""))
    counts.set_title(f"forwarding: {doc.get('forwarding', 'none')}")
    counts.legend(fontsize=5, loc="upper center", bbox_to_anchor=(0.5, -0.22))
    fig.suptitle(f"{scenario_name(run_dir)}: edge site load")
    return fig


def site_load(run_dir: Path) -> Path | None:
    return save(draw_site_load(Path(run_dir)), run_dir, "site_load")
