"""Federated accuracy against a like-for-like central reference, and what int8 update compression costs.

Runs scenarios/smart-grid-fl.yaml (40 households federating an h16 LSTM from scratch for a day) with its
strategy, with FedProx and with int8 update compression, and trains the same model centrally on the pooled
windows the devices could have trained on (clients/central.py). Every model is scored by the code of
versions.csv on the same 48 held-out hours of every device.
Usage: python bench/fl_accuracy.py [SCENARIO]
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    import torch

    torch.set_num_threads(1)
    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    from clients.central import train_central
    from clients.device import DeviceSettings, score_fleet
    from clients.model import EDGE_MODEL
    from sim import scenario as scenarios
    from sim.forecasts import device_config, score_versions
    from sim.app.runner import run_scenario

    scenario = scenarios.load(sys.argv[1] if len(sys.argv) > 1 else ROOT / "scenarios" / "smart-grid-fl.yaml")
    settings = DeviceSettings.from_config(device_config(scenario))
    end_hour, span_hours = int(scenario.duration // 3600), int(scenario.federation.train_span // 3600)
    reference = train_central(settings, range(scenario.device_count), end_hour, span_hours, epochs=20,
                              fine_epochs=5, lr=3e-3, batch_size=128, seed=scenario.seed)
    central = score_versions(lambda requests, weights: score_fleet(settings, requests, weights),
                             scenario.device_count, {(EDGE_MODEL, 0): reference.arrays}, end_hour)[0]
    print(f"central reference: {reference.windows} pooled windows of {reference.devices} devices, "
          f"{reference.seconds:.0f} s; held-out MSE {central['mse']:.4f} (persistence {central['persistence_mse']:.4f})")

    variants = {"as configured": {}, "fedprox": {"strategy": "fedprox"}, "int8 updates": {"compression": "int8"}}
    results = {}
    for label, change in variants.items():
        fed = scenario.federation.model_copy(update=change)
        started = time.perf_counter()
        run = run_scenario(scenario.model_copy(update={"federation": fed}))
        edge = [v for v in run.versions if v["model"] == "edge"]
        uplink = sum(r["upload_bytes"] for r in run.rounds if r["phase"] == "deploy")
        results[label] = {"mse": edge[-1]["mse"], "first_mse": edge[0]["mse"], "uplink_bytes": uplink,
                          "wall_s": time.perf_counter() - started}
        print(f"{label:>14}: held-out MSE {edge[0]['mse']:.4f} (v0) -> {edge[-1]['mse']:.4f} (v{len(edge) - 1}), "
              f"x{edge[-1]['mse'] / central['mse']:.3f} of central; uplink {uplink / 1e6:.2f} MB; "
              f"{results[label]['wall_s']:.0f} s")
    plain, int8 = results["as configured"], results["int8 updates"]
    print(json.dumps({
        "central_mse": round(central["mse"], 4), "persistence_mse": round(central["persistence_mse"], 4),
        "federated_mse": round(plain["mse"], 4), "ratio_to_central": round(plain["mse"] / central["mse"], 3),
        "fedprox_mse": round(results["fedprox"]["mse"], 4),
        "fedprox_ratio_to_central": round(results["fedprox"]["mse"] / central["mse"], 3),
        "int8_mse": round(int8["mse"], 4), "int8_mse_change_pct": round(100 * (int8["mse"] / plain["mse"] - 1), 2),
        "uplink_bytes_ratio": round(plain["uplink_bytes"] / int8["uplink_bytes"], 2)}))


if __name__ == "__main__":
    main()
