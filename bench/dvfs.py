"""What a governor costs the engine: bench/engine.py's fleet with and without DVFS governors, in one process.

Runs the engine bench's scenario (1,000 devices, random 50/30/20 targets) three ways, each timed in CPU seconds
of this process (the machine is shared: wall time is noisy, CPU time much less): no governor (the reference),
the Pis under `performance` (a static step: nothing changes per request), and the Pis under `ondemand` every
100 ms (a process per fleet entry, and each request's compute time noted for the table).
Usage: python bench/dvfs.py [--devices N] [--hours H]
The last line is a JSON object with the requests per CPU second of each and their ratios to the reference.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine import bench_scenario  # bench/ is not a package: found through sys.path

from sim import scenario as scenarios
from sim.world import World


def governed(scenario: scenarios.Scenario, governor: dict) -> scenarios.Scenario:
    data = scenario.model_dump(mode="json")
    data["fleet"] = [dict(entry, governor=governor) if entry["profile"] == "raspberry-pi-4" else entry
                     for entry in data["fleet"]]
    return scenarios.parse(data, f"bench with governor {governor['name']}")


def cpu_timed(scenario: scenarios.Scenario) -> tuple[int, float]:
    world = World(scenario)
    started = time.process_time()
    world.run()
    return world.recorder.size, time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--hours", type=float, default=0.25)
    args = parser.parse_args()
    base = bench_scenario(args.devices, args.hours)
    runs = {"none": base, "performance": governed(base, {"name": "performance"}),
            "ondemand": governed(base, {"name": "ondemand", "sampling": "100ms"})}
    figures = {}
    for name, scenario in runs.items():
        requests, cpu_s = cpu_timed(scenario)
        figures[f"{name}_requests_per_cpu_s"] = round(requests / cpu_s)
        print(f"{name}: {requests} requests in {cpu_s:.1f} CPU s")
    for name in ("performance", "ondemand"):
        figures[f"ratio_{name}"] = round(figures[f"{name}_requests_per_cpu_s"] / figures["none_requests_per_cpu_s"], 3)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
