"""Energy figures of one run: energy per request by component, battery state of charge over time."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from plots.rundir import read_csv, scenario_name, summary
from plots.style import COMPONENT_COLOURS, figure, name_colours, save, time_unit

COMPONENTS = ("compute", "radio_tx", "radio_rx", "radio_tail", "idle")
_COMPONENT_LABELS = {"compute": "compute", "radio_tx": "radio tx", "radio_rx": "radio rx",
                     "radio_tail": "radio tail", "idle": "idle"}


def draw_energy_per_request(run_dir: Path):
    """Stacked bars: each class's device energy by component over the requests it served (mJ per request).

    Left: all components; right: without idle, which otherwise hides the components a policy can change.
    These are the device ledgers, federated training and transfers included: a right-panel bar is the
    class's device_energy_per_request_j (summary.json), not its requests' own energy_per_request_j.
    """
    devices = read_csv(run_dir, "devices.csv", floats=tuple(f"energy_{c}_j" for c in COMPONENTS))
    if devices is None:
        return None
    classes = [c for c in sorted(set(devices["profile"])) if devices["served"][devices["profile"] == c].sum() > 0]
    if not classes:
        return None
    served = np.array([devices["served"][devices["profile"] == c].sum() for c in classes], dtype=np.float64)
    per_request = {comp: np.array([np.nansum(devices[f"energy_{comp}_j"][devices["profile"] == c]) for c in classes])
                   / served * 1e3 for comp in COMPONENTS}
    fig, axes = figure(5.2, 2.7, ncols=2)
    x = np.arange(len(classes))
    for ax, parts, title in ((axes[0], COMPONENTS, "all components"), (axes[1], COMPONENTS[:-1], "without idle")):
        bottom = np.zeros(len(classes))
        for comp in parts:
            ax.bar(x, per_request[comp], 0.6, bottom=bottom, color=COMPONENT_COLOURS[comp], edgecolor="white",
                   linewidth=0.5, label=_COMPONENT_LABELS[comp])
            bottom += per_request[comp]
        ax.set_xticks(x, classes, rotation=20, ha="right", rotation_mode="anchor")
        ax.set_ylim(0, max(bottom.max(), 1e-9) * 1.08)
        ax.set_title(title)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].set_ylabel("device energy per served request (mJ),\nfederated learning included")
    fig.suptitle(f"{scenario_name(run_dir)}: energy per request by component", fontsize=8)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles[::-1], labels[::-1], loc="outside right upper")
    return fig


def energy_per_request(run_dir: Path) -> Path | None:
    return save(draw_energy_per_request(Path(run_dir)), run_dir, "energy_per_request")


def _series_label(profile: str, group: int, profiles_of_groups: dict[int, str]) -> str:
    shared = sum(p == profile for p in profiles_of_groups.values()) > 1
    return f"{profile} (group {group})" if shared else profile


def draw_battery_soc(run_dir: Path):
    """State of charge per battery-powered group: median line, min-max band; device deaths as crosses at 0%."""
    battery = read_csv(run_dir, "battery.csv", floats=("time_s", "soc_median", "soc_min", "soc_max"))
    if battery is None or not len(battery["time_s"]):
        return None
    devices = read_csv(run_dir, "devices.csv", floats=("death_s",))
    span = float(summary(run_dir).get("simulated_s") or np.nanmax(battery["time_s"]))
    scale, xlabel = time_unit(span)
    all_profiles = list(devices["profile"]) if devices is not None else list(battery["profile"])
    colours = name_colours(all_profiles + list(battery["profile"]))
    groups = {int(g): p for g, p in zip(battery["group"], battery["profile"])}
    fig, ax = figure()
    for group, profile in sorted(groups.items()):
        rows = battery["group"] == group
        order = np.argsort(battery["time_s"][rows])
        t = battery["time_s"][rows][order] / scale
        colour = colours[profile]
        ax.fill_between(t, battery["soc_min"][rows][order] * 100, battery["soc_max"][rows][order] * 100,
                        color=colour, alpha=0.25, linewidth=0)
        ax.plot(t, battery["soc_median"][rows][order] * 100, color=colour, label=_series_label(profile, group, groups))
    if devices is not None:
        dead = np.isfinite(devices["death_s"])
        for profile in sorted(set(devices["profile"][dead])):
            times = devices["death_s"][dead & (devices["profile"] == profile)] / scale
            ax.plot(times, np.zeros(len(times)), linestyle="none", marker="x", markersize=5, clip_on=False,
                    color=colours[profile], label=f"{profile}: {len(times)} death{'s' * (len(times) > 1)}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("state of charge (%)")
    ax.set_xlim(0, span / scale)
    ax.set_ylim(0, 102)
    ax.set_title(f"{scenario_name(run_dir)}: battery state of charge (median, min-max)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")
    return fig


def battery_soc(run_dir: Path) -> Path | None:
    return save(draw_battery_soc(Path(run_dir)), run_dir, "battery_soc")
