"""Deployed compression variants from a scenario: each runs scenarios/compressed-edge.yaml end to end.

Variants (models.edge.compression): dense int8, structured prune 0.5, unstructured prune 0.5 and
distilled from the cloud model (dense). Per variant: deployed bytes and FLOPs per inference as the run's
World charges them, held-out MSE (z-scored, int8 on the device) of the served forecasts from summary.json
forecast_kwh, and the mean latency and device energy of one local inference on the Pi 4B.

Usage: python bench/compressed_edge.py   (last line: one JSON object with the figures)
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from sim import scenario as scenarios
from sim.app.runner import run_scenario
from sim.world import World

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "compressed-edge.yaml"
VARIANTS = {
    "dense int8": None,
    "structured prune 0.5": {"prune": 0.5, "structured": True},
    "unstructured prune 0.5": {"prune": 0.5, "structured": False},
    "distilled from cloud": {"distill_from": "cloud"},
    "structured 0.5 + distilled": {"prune": 0.5, "structured": True, "distill_from": "cloud"},
}


def variant(name: str) -> scenarios.Scenario:
    """The bundled scenario with the edge model's compression replaced by the variant's."""
    data = scenarios.read_yaml(SCENARIO)
    edge = dict(data["models"]["edge"])
    edge.pop("compression", None)
    if VARIANTS[name] is not None:
        edge["compression"] = VARIANTS[name]
    data["models"] = {**data["models"], "edge": edge}
    return scenarios.parse(data, f"{SCENARIO.name} ({name})")


def measure(name: str) -> dict:
    scenario = variant(name)
    world = World(scenario)  # what the run charges: bytes sent and held, FLOPs per local inference
    result = run_scenario(scenario)
    kwh = result.summary["forecast_kwh"]
    local = kwh["local_inference_by_profile"]["raspberry-pi-4"]
    return {"bytes": int(world.model_bytes), "summary_bytes": kwh["int8"]["model_bytes"],
            "flops": world.fleet.flops_per_inference, "mse": kwh["int8"]["mse_z"],
            "persistence_mse": result.summary["persistence_mse"], "latency_s": local["latency_mean_s"],
            "energy_j": local["energy_j"], "wall_s": result.wall_s}


def main() -> None:
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    rows = {name: measure(name) for name in VARIANTS}
    dense = rows["dense int8"]
    print("| variant | deployed bytes | x fewer bytes | FLOPs/inference | MSE (z) | MSE vs dense | latency/inference (us) "
          "| energy/inference (uJ) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in rows.items():
        print(f"| {name} | {r['bytes']} | {dense['bytes'] / r['bytes']:.2f} | {r['flops']:.0f} | {r['mse']:.3f} | "
              f"{r['mse'] / dense['mse'] - 1:+.1%} | {r['latency_s'] * 1e6:.2f} | {r['energy_j'] * 1e6:.2f} |")
    wall = time.perf_counter() - t0
    print()
    print(f"persistence MSE (z) on the same requests {dense['persistence_mse']:.3f}; wall time {wall:.1f} s")
    figures = {name: {k: (float(f"{v:.6g}") if isinstance(v, float) else v) for k, v in r.items()} for name, r in rows.items()}
    figures["seconds"] = round(wall, 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
