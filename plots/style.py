"""Shared figure style: colour-blind-safe palette (Okabe-Ito), paper-size figures, PNG + PDF output."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
TARGET_COLOURS = {"local": OKABE_ITO[0], "edge": OKABE_ITO[1], "cloud": OKABE_ITO[2]}


def figure(width_in: float = 3.5, height_in: float = 2.6):
    plt.rcParams.update({"font.size": 8, "axes.titlesize": 8, "legend.fontsize": 7})
    return plt.subplots(figsize=(width_in, height_in), dpi=200, constrained_layout=True)


def save(fig, run_dir: Path, name: str) -> Path:
    folder = Path(run_dir) / "plots"
    folder.mkdir(exist_ok=True)
    png = folder / f"{name}.png"
    fig.savefig(png)
    fig.savefig(folder / f"{name}.pdf")
    plt.close(fig)
    return png
