"""Synchronous FedAvg against FedBuff and FedAsync: held-out MSE against simulated time, updates aggregated.

Runs scenarios/async-fl.yaml as written (sync), then the same scenario with `federation.mode` fedbuff and
fedasync at the same number of aggregated updates. Each global version is scored by versions.csv's code on
the same 48 held-out hours of every device; rounds.csv gives the simulated time each version was published.
Usage: python bench/async_fl.py [SCENARIO]
The last line is a JSON object with one entry per mode.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def variants(fed) -> dict[str, dict]:
    """The scenario's own sync federation and its two asynchronous twins with as many aggregated updates."""
    updates = fed.rounds * fed.clients_per_round
    buffer = max(1, fed.clients_per_round // 2)
    return {"sync": {},
            "fedbuff": {"mode": "fedbuff", "concurrency": fed.clients_per_round, "buffer_size": buffer,
                        "rounds": updates // buffer, "staleness": {"kind": "polynomial", "a": 0.5}},
            "fedasync": {"mode": "fedasync", "concurrency": fed.clients_per_round, "rounds": updates,
                         "server_step": 0.6, "staleness": {"kind": "polynomial", "a": 0.5}}}


def curve(result) -> list[tuple[float, float]]:
    """(simulated time the version was published, its held-out MSE), version 0 at the first round's time."""
    published = {0: result.scenario.federation.first_round_at}
    for row in result.rounds:
        if row["phase"] == "deploy" and row["aggregated"]:
            published[int(row["model_version"])] = float(row["deadline_s"])
    return sorted((published[int(v["model_version"])], float(v["mse"])) for v in result.versions
                  if v["model"] == "edge" and int(v["model_version"]) in published)


def main() -> None:
    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    from sim import scenario as scenarios
    from sim.app.runner import run_scenario

    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "scenarios" / "async-fl.yaml"
    base = scenarios.load(path)
    out = {}
    for mode, changes in variants(base.federation).items():
        data = base.model_dump(mode="json")
        data["federation"].update(changes)
        started = time.perf_counter()
        result = run_scenario(scenarios.parse(data, str(path)))
        points = curve(result)
        stale = [r["staleness_mean"] for r in result.rounds if "staleness_mean" in r]
        out[mode] = {"versions": len(points) - 1, "final_mse": points[-1][1], "first_mse": points[0][1],
                     "updates_aggregated": sum(r["aggregated"] for r in result.rounds if r["phase"] == "deploy"),
                     "dropouts_unavailable": sum(r.get("reason") == "unavailable" for r in result.round_clients),
                     "last_version_s": points[-1][0], "curve": points,
                     "staleness_mean": sum(stale) / len(stale) if stale else 0.0,
                     "wall_s": round(time.perf_counter() - started, 1)}
    target = out["sync"]["final_mse"]
    for mode, row in out.items():  # simulated time to reach sync's final held-out MSE
        row["time_to_sync_final_mse_s"] = next((t for t, mse in row["curve"] if mse <= target), None)
    print("| mode | updates aggregated | versions | final MSE | time to sync's final MSE (s) | mean staleness |")
    print("|---|---|---|---|---|---|")
    for mode, row in out.items():
        reach = row["time_to_sync_final_mse_s"]
        print(f"| {mode} | {row['updates_aggregated']} | {row['versions']} | {row['final_mse']:.4f} | "
              f"{'not reached' if reach is None else f'{reach:.0f}'} | {row['staleness_mean']:.2f} |")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
