"""Flat sync FedAvg, hierarchical FL (HierFAVG) and FedBuff on one scenario: time to accuracy and WAN bytes.

Runs scenarios/straggler-fl.yaml (or the file given; it needs `sites:`) three ways through Flower, each with
as many aggregated device updates as the scenario's flat rounds:
- flat: as written (clients_per_round a round, the round deadline drops what is late);
- hierarchical: `clients_per_round / sites` a site per edge round, a cloud round every 2 edge rounds;
- fedbuff: `clients_per_round` training at once, a buffer of half that, staleness weight (1 + tau)^-0.5, and a
  client timeout of 10 min instead of the round deadline (FedBuff waits for nobody, so a slow device's update
  arrives late and stale instead of being dropped).
Each run directory is written under --out; plots/fl_compare.py reads them for the figure (held-out MSE of every
global version, versions.csv's 48 test hours, against the simulated time it was published; WAN bytes from
links.csv). Figures reported: WAN bytes per unit of MSE gain (v0 to final), hierarchical / flat; simulated time
to reach flat's final MSE, fedbuff / flat.
Usage: PYTHONPATH=. python bench/fl_compare.py [SCENARIO] [--out DIR] [--figures docs]
The last line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def variants(scenario) -> dict[str, dict]:
    """Federation changes of each variant, with as many aggregated updates as the flat rounds."""
    fed, sites = scenario.federation, len(scenario.sites)
    if sites < 2 or fed.clients_per_round % sites:
        raise SystemExit(f"{scenario.name}: needs >= 2 sites and clients_per_round divisible by their number")
    updates, buffer = fed.rounds * fed.clients_per_round, max(1, fed.clients_per_round // 2)
    return {"flat": {},
            "hierarchical": {"hierarchy": {"edge_rounds_per_cloud": 2}, "clients_per_round": fed.clients_per_round // sites},
            "fedbuff": {"mode": "fedbuff", "concurrency": fed.clients_per_round, "buffer_size": buffer,
                        "rounds": updates // buffer, "round_deadline": "600s",
                        "staleness": {"kind": "polynomial", "a": 0.5}}}


def ratio(a, b):
    return None if a is None or b is None or b == 0 else round(a / b, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default=str(ROOT / "scenarios" / "straggler-fl.yaml"))
    parser.add_argument("--out", default="/tmp/fl-compare", help="folder for the three run directories")
    parser.add_argument("--figures", default=None, help="folder for fl_compare_<scenario>.png (e.g. docs)")
    args = parser.parse_args()
    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    from plots.fl_compare import accuracy_curve, time_to_accuracy, time_to_reach, wan_bytes
    from sim import scenario as scenarios
    from sim.app.runner import run_scenario, write_run

    base = scenarios.load(args.scenario)
    runs, rows = {}, {}
    for name, change in variants(base).items():
        data = base.model_dump(mode="json")
        data["federation"].update(change)
        started = time.perf_counter()
        result = run_scenario(scenarios.parse(data, args.scenario))
        runs[name] = write_run(result, Path(args.out) / f"{base.name}-{name}", plots=False)
        clients = result.round_clients
        rows[name] = {"wall_s": round(time.perf_counter() - started, 1),
                      "aggregated": sum(r["status"] == "aggregated" for r in clients),
                      "stragglers": sum(r["status"] == "straggler" for r in clients)}
    target = accuracy_curve(runs["flat"])[-1][2]
    for name, row in rows.items():
        curve, spent = accuracy_curve(runs[name]), wan_bytes(runs[name])
        gain = curve[0][2] - curve[-1][2]
        row.update({"first_mse": curve[0][2], "final_mse": curve[-1][2], "versions": curve[-1][1],
                    "wan_up_bytes": spent["up"], "wan_down_bytes": spent["down"],
                    "wan_bytes_per_mse_gain": (spent["up"] + spent["down"]) / gain if gain > 0 else None,
                    "time_to_flat_final_mse_s": time_to_reach(curve, target), "run_dir": str(runs[name])})
    print("| run | device updates aggregated | stragglers | versions | held-out MSE v0 -> final | "
          "time to flat's final MSE (s) | WAN up / down (kB) | WAN bytes per unit MSE gain |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        reach, per = r["time_to_flat_final_mse_s"], r["wan_bytes_per_mse_gain"]
        print(f"| {name} | {r['aggregated']} | {r['stragglers']} | {r['versions']} | {r['first_mse']:.4f} -> "
              f"{r['final_mse']:.4f} | {'not reached' if reach is None else f'{reach:,.0f}'} | "
              f"{r['wan_up_bytes'] / 1e3:,.1f} / {r['wan_down_bytes'] / 1e3:,.1f} | "
              f"{'no gain' if per is None else f'{per / 1e6:.2f} MB'} |")
    if args.figures:
        print("figure:", time_to_accuracy(runs, Path(args.figures), f"fl_compare_{base.name}", reference="flat"))
    flat, hier, buff = rows["flat"], rows["hierarchical"], rows["fedbuff"]
    print(json.dumps({"scenario": base.name, "flat_final_mse": target,
                      "wan_bytes_per_gain_hier_over_flat": ratio(hier["wan_bytes_per_mse_gain"], flat["wan_bytes_per_mse_gain"]),
                      "time_to_flat_final_fedbuff_over_sync": ratio(buff["time_to_flat_final_mse_s"],
                                                                    flat["time_to_flat_final_mse_s"]),
                      "runs": rows}))


if __name__ == "__main__":
    main()
