"""Edge-side forwarding on scenarios/edge-sites.yaml: the same arrivals with forwarding none, threshold and
least-loaded; prints where requests were served and what they waited (the table in docs/topology.md).

Usage: python examples/forwarding.py [SCENARIO] [--seed N]
The last line is one JSON object with the figures.
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from sim import scenario as scenarios
from sim.world import World


def run(scenario: scenarios.Scenario, kind: str) -> dict:
    data = scenario.model_dump(mode="json")
    data["forwarding"] = {**data.get("forwarding", {}), "kind": kind}
    world = World(scenarios.parse(data, f"{scenario.name} (forwarding {kind})"))
    world.run()
    table = world.table()
    latency = table["latency_s"]
    served = ~np.isnan(latency)
    return {"forwarding": kind, "requests": int(len(latency)),
            "latency_mean_ms": round(float(np.nanmean(latency)) * 1e3, 2),
            "latency_p95_ms": round(float(np.nanpercentile(latency, 95)) * 1e3, 2),
            "deadline_miss_pct": round(float(np.mean(latency[served] > table["deadline_s"][served])) * 100, 3),
            "forwarded_pct": round(float(np.mean(table["forwarded"] >= 0)) * 100, 2),
            "served_at": {site.name: round(float(np.mean(table["site"] == k)) * 100, 2)
                          for k, site in enumerate(world.topology.sites)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default="scenarios/edge-sites.yaml")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    scenario = scenarios.with_overrides(scenarios.load(args.scenario), seed=args.seed, source=args.scenario)
    rows = [run(scenario, kind) for kind in ("none", "threshold", "least-loaded")]
    sites = list(rows[0]["served_at"])
    print("| forwarding | latency mean (ms) | p95 (ms) | deadline misses (%) | forwarded (%) | "
          + " | ".join(f"served at {s} (%)" for s in sites) + " |")
    print("|---" * (5 + len(sites)) + "|")
    for r in rows:
        print(f"| {r['forwarding']} | {r['latency_mean_ms']} | {r['latency_p95_ms']} | {r['deadline_miss_pct']} | "
              f"{r['forwarded_pct']} | " + " | ".join(str(r["served_at"][s]) for s in sites) + " |")
    print(json.dumps({"scenario": args.scenario, "seed": scenario.seed, "runs": rows}))


if __name__ == "__main__":
    main()
