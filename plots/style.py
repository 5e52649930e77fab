"""Shared figure style: colour-blind-safe palette (Okabe-Ito), stable colours per name, paper-size PNG + PDF output."""
from __future__ import annotations

import zlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# Okabe & Ito (2008), "Color Universal Design"; yellow last: weakest on white
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442"]
# series past Okabe-Ito's 8: four of Paul Tol's "muted" colours that differ from all eight (indigo, teal, olive, wine)
SERIES_PALETTE = OKABE_ITO + ["#332288", "#44AA99", "#999933", "#882255"]
# past the palette, the colours come round again with the next line style: (colour, style) stays distinct
LINE_STYLES = ["-", "--", "-.", ":", (0, (5, 1)), (0, (1, 1)), (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2, 2, 2))]
GREY = "#999999"
DARK_GREY = "#555555"  # drawn over light fills (metro links on the map)
TARGET_COLOURS = {"local": OKABE_ITO[0], "edge": OKABE_ITO[1], "cloud": OKABE_ITO[2]}
COMPONENT_COLOURS = {"compute": OKABE_ITO[0], "radio_tx": OKABE_ITO[3], "radio_rx": OKABE_ITO[1],
                     "radio_tail": OKABE_ITO[4], "idle": GREY}
LATENCY_PART_COLOURS = {"queue": OKABE_ITO[3], "transfer": OKABE_ITO[5], "compute": OKABE_ITO[0],
                        "propagation": OKABE_ITO[1]}
# cells on the topology map, by link kind; a kind missing here gets a colour hashed from its name
LINK_COLOURS = {"wifi": OKABE_ITO[0], "lte": OKABE_ITO[1], "5g": OKABE_ITO[2], "nb-iot": OKABE_ITO[4],
                "lora": OKABE_ITO[3]}
# one colour per policy in every comparison figure; fixed targets keep their target colour. A policy
# missing here (a new one, a plugin) gets a colour and marker hashed from its name: no entry needed
POLICY_COLOURS = {"local": OKABE_ITO[0], "edge": OKABE_ITO[1], "cloud": OKABE_ITO[2], "greedy": OKABE_ITO[3],
                  "greedy-latency": OKABE_ITO[3], "lyapunov": OKABE_ITO[4], "linucb": OKABE_ITO[5],
                  "oracle": OKABE_ITO[6], "deadline-energy": OKABE_ITO[7], "battery-threshold": GREY,
                  "random": "#666666"}
POLICY_MARKERS = {"local": "o", "edge": "s", "cloud": "^", "greedy": "D", "greedy-latency": "D", "lyapunov": "P",
                  "linucb": "X", "oracle": "*", "deadline-energy": "v", "battery-threshold": "<", "random": "h"}
_FALLBACK_MARKERS = "o s ^ D P X v < > h".split()

PAPER = {"font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "legend.fontsize": 7, "xtick.labelsize": 7,
         "ytick.labelsize": 7, "legend.frameon": False, "axes.spines.top": False, "axes.spines.right": False,
         "pdf.fonttype": 42, "savefig.dpi": 200}


def _hashed(name: str, choices: list[str]) -> str:
    return choices[zlib.crc32(name.encode()) % len(choices)]


def policy_colour(policy: str) -> str:
    """The same colour for a policy in every figure and every comparison (a hash for unknown names)."""
    return POLICY_COLOURS.get(policy) or _hashed(policy, OKABE_ITO[:7])


def policy_marker(policy: str) -> str:
    return POLICY_MARKERS.get(policy) or _hashed(policy, _FALLBACK_MARKERS)


def link_colour(kind: str) -> str:
    return LINK_COLOURS.get(kind) or _hashed(kind, OKABE_ITO[:7])


def series_styles(names) -> dict[str, tuple[str, str]]:
    """(colour, line style) per name in the given order: past eight names the colours repeat with another
    dash, so no two series look alike."""
    dashes = ["-", "--", ":", "-."]
    return {name: (OKABE_ITO[i % len(OKABE_ITO)], dashes[(i // len(OKABE_ITO)) % len(dashes)])
            for i, name in enumerate(names)}


def name_colours(names) -> dict[str, str]:
    """Colours for a run's device classes (sorted, so every figure of the run agrees); distinct up to 12 names,
    then repeating: where more may be drawn, use name_styles."""
    return {name: SERIES_PALETTE[i % len(SERIES_PALETTE)] for i, name in enumerate(sorted(set(names)))}


def name_styles(names, variants: int = 1) -> dict[str, list[tuple[str, object]]]:
    """(colour, line style) for each of `variants` series per name (sorted), e.g. a link's uplink and downlink.

    Name i has colour SERIES_PALETTE[i % 12]; its variants take consecutive line styles from a block that moves
    on each time the palette comes round, so every (name, variant) pair differs from every other one up to
    12 x len(LINE_STYLES) / variants names. Within the first 12 names, variant 0 is solid and variant 1 dashed."""
    palette, styles = SERIES_PALETTE, LINE_STYLES
    return {name: [(palette[i % len(palette)], styles[((i // len(palette)) * variants + v) % len(styles)])
                   for v in range(variants)]
            for i, name in enumerate(sorted(set(names)))}


def time_unit(span_s: float) -> tuple[float, str]:
    """Divisor and axis label for simulated time spanning span_s seconds."""
    if span_s >= 3 * 3600:
        return 3600.0, "simulated time (h)"
    if span_s >= 180:
        return 60.0, "simulated time (min)"
    return 1.0, "simulated time (s)"


def figure(width_in: float = 3.5, height_in: float = 2.6, **subplots):
    plt.rcParams.update(PAPER)
    return plt.subplots(figsize=(width_in, height_in), dpi=200, constrained_layout=True, **subplots)


def save_to(fig, folder: Path, name: str) -> Path:
    """Write folder/name.png and folder/name.pdf (to temporary names, then renamed) and close the figure."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for ext in ("pdf", "png"):
        tmp = folder / f".{name}.tmp.{ext}"
        fig.savefig(tmp, format=ext)
        tmp.replace(folder / f"{name}.{ext}")
    plt.close(fig)
    return folder / f"{name}.png"


def save(fig, run_dir: Path, name: str) -> Path | None:
    """Save a run figure into RUN_DIR/plots/; None (nothing written) when there was nothing to draw."""
    if fig is None:
        return None
    return save_to(fig, Path(run_dir) / "plots", name)
