"""Reference accuracy table: naive baselines and every edge/cloud model variant on the SGSC protocol of the data README.

Protocol (clients/baselines.py): calendar 2013, the 40 households with < 1% missing hours, 70/10/20
time-ordered split, z-scored per household, window 24, next hour; errors pooled over all test samples
(z-scored units). Training is subsampled so the whole run stays under ~3 minutes on one torch thread:
each epoch draws a fresh seeded subsample of the ~230k training windows (sizes in
``clients.compress.ReportBudget``; the cloud model gets fewer samples per epoch because each costs
~10x more), and epochs are chosen on a fixed 10k-sample validation subsample. The test split is never
subsampled. Figures therefore sit slightly above what full training reaches (see evaluate_reference).

Usage: python bench/accuracy.py [--seed N]   (last line: one JSON object with the figures)
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from clients.compress import compression_report
from clients.spec import ModelSpec

# h=16 p=8 against the edge fp32 row (same hidden size, fewer weights); h=64 p=16 is the case
# docs/devices.md gives, against the central h=32 reference (about the same bytes)
PROJECTED = (ModelSpec(hidden=16, proj_size=8), ModelSpec(hidden=64, proj_size=16))


def _spec_text(spec) -> str:
    text = f"{spec.cell.upper()} h={spec.hidden}" + (f"x{spec.layers}" if spec.layers > 1 else "")
    text += f" proj={spec.proj_size}" if spec.proj_size else ""
    return text + (" +cal" if spec.calendar else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    report = compression_report(seed=args.seed, projections=PROJECTED, verbose=args.verbose)
    rows = report["rows"]
    fp32 = next(r for r in rows if r["name"] == "edge fp32")
    print(f"Test split: {report['test_samples']} windows, 40 households, z-scored units; gain = 1 - MSE / persistence MSE.")
    print()
    print("| model | architecture | bytes | x fewer bytes than edge fp32 | FLOPs/inference | MSE | MAE | MSE vs edge fp32 | gain vs persistence |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        naive = r["bytes"] == 0
        arch = "-" if naive else _spec_text(r["spec"])
        ratio = "-" if naive else f"{fp32['bytes'] / r['bytes']:.2f}"
        vs = "-" if naive else f"{r['mse'] / fp32['mse'] - 1:+.1%}"
        print(f"| {r['name']} | {arch} | {r['bytes'] if not naive else '-'} | {ratio} | "
              f"{r['flops']:.0f} | {r['mse']:.3f} | {r['mae']:.3f} | {vs} | {r['gain_vs_persistence']:.1%} |")
    wall = time.perf_counter() - t0
    print()
    print(f"wall time {wall:.1f} s (1 torch thread)")
    figures = {r["name"]: {"mse": round(r["mse"], 4), "mae": round(r["mae"], 4), "bytes": r["bytes"],
                           "flops": r["flops"]} for r in rows}
    int8 = next(r for r in rows if r["name"] == "edge int8")
    figures["int8_mse_vs_fp32"] = round(int8["mse"] / fp32["mse"] - 1, 4)
    figures["int8_bytes_ratio"] = round(fp32["bytes"] / int8["bytes"], 3)
    figures["edge_gain_vs_persistence"] = round(fp32["gain_vs_persistence"], 4)
    figures["seconds"] = round(wall, 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
