"""Engine throughput: simulated requests per wall-second against a bare SimPy loop of the same event count.

1,000 devices (Pis on WiFi, phones on LTE, gateways on 5G), 1 simulated hour, about one request per
device per second, targets drawn at random over local/edge/cloud, no federation.
With --sites N the same fleet is spread over N edge sites on a metro ring (each fleet entry split across
the sites, each site with one cell per link kind): the run is timed beside the single-site one in the same
process and the last line carries `ratio_to_single_site`.
Usage: python bench/engine.py [--devices N] [--hours H] [--policy NAME] [--sites N] [--profile]
--policy replaces the random 50/30/20 draw by a policy that reads the device's observation (greedy-latency,
lyapunov, ...): the cost of filling it and deciding.
With --profile the run is timed under cProfile (slower) and the share of own time per module is printed
(where the time goes: the calendar loop, links, the request path, energy, servers, policy, SimPy, heapq).
"""
from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import time
from collections import Counter
from pathlib import Path

import simpy

from sim import scenario as scenarios
from sim.world import World


def bench_scenario(devices: int, hours: float, policy: str = "random") -> scenarios.Scenario:
    third = devices // 3
    params = {"p_local": 0.5, "p_edge": 0.3, "p_cloud": 0.2} if policy == "random" else {}
    return scenarios.parse({
        "name": "engine-bench", "seed": 1, "duration": f"{hours}h",
        "policy": {"name": policy, "params": params},
        "fleet": [
            {"profile": "raspberry-pi-4", "count": third, "link": "wifi",
             "workload": {"kind": "poisson", "rate": "1/s", "deadline": "100ms"}},
            {"profile": "smartphone", "count": third, "link": "lte",
             "workload": {"kind": "poisson", "rate": "1/s", "deadline": "250ms"}},
            {"profile": "iot-gateway", "count": devices - 2 * third, "link": "5g",
             "workload": {"kind": "periodic", "rate": "1/s", "deadline": "100ms"}},
        ],
        "federation": {"enabled": False},
    }, "bench")


def with_sites(scenario: scenarios.Scenario, n_sites: int) -> scenarios.Scenario:
    """The bench fleet spread over n_sites edge sites 2 km apart on a metro ring (10 Gbit/s, 1 ms a hop)."""
    data = scenario.model_dump(mode="json")
    data.pop("edge")
    kinds = sorted({entry["link"] for entry in data["fleet"]})
    data["sites"] = [{"name": f"s{i}", "position": [2000.0 * i, 0.0],
                      "cells": [{"name": f"s{i}-{kind}", "link": kind} for kind in kinds]} for i in range(n_sites)]
    data["metro"] = [{"between": [f"s{i}", f"s{(i + 1) % n_sites}"], "bandwidth": "10Gbps", "rtt": "1ms"}
                     for i in range(n_sites if n_sites > 2 else n_sites - 1)]
    fleet = []
    for entry in data["fleet"]:
        share, extra = divmod(entry["count"], n_sites)
        fleet += [dict(entry, count=share + (i < extra), site=f"s{i}") for i in range(n_sites) if share + (i < extra)]
    data["fleet"] = fleet
    return scenarios.parse(data, f"bench with {n_sites} sites")


def timed_run(scenario: scenarios.Scenario, profiler: cProfile.Profile | None = None) -> tuple[World, float]:
    world = World(scenario)
    started = time.perf_counter()
    if profiler:
        profiler.runcall(world.run)
    else:
        world.run()
    return world, time.perf_counter() - started


def bare_simpy_rate(events: int) -> float:
    """Events per second of a bare SimPy loop: one process yielding env.timeout."""
    env = simpy.Environment()

    def loop():
        for _ in range(events):
            yield env.timeout(0.001)

    env.process(loop())
    started = time.perf_counter()
    env.run()
    return events / (time.perf_counter() - started)


def own_time_by_module(profiler: cProfile.Profile) -> dict[str, float]:
    """Share of profiled own time per module; C functions (heapq, list and numpy methods) together as "C"."""
    stats = pstats.Stats(profiler).stats
    by_module: Counter[str] = Counter()
    for (filename, _, function), (_, _, own, _, _) in stats.items():
        name = Path(filename).stem if filename != "~" else "C"
        by_module[name] += own
    total = sum(by_module.values())
    return {name: round(own / total, 3) for name, own in by_module.most_common(10)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--policy", default="random", help="offload policy (default: random 50/30/20)")
    parser.add_argument("--profile", action="store_true", help="cProfile the run and print own time per module")
    parser.add_argument("--sites", type=int, default=0, help="also run the fleet spread over N edge sites")
    args = parser.parse_args()
    scenario = bench_scenario(args.devices, args.hours, args.policy)
    profiler = cProfile.Profile() if args.profile else None
    world, wall = timed_run(scenario, profiler)
    requests = world.recorder.size
    rate = requests / wall
    bare = bare_simpy_rate(requests)
    shares = {name: round(float((world.recorder.target[:requests] == i).mean()), 3)
              for i, name in enumerate(("local", "edge", "cloud"))}
    print(f"{requests} requests in {wall:.1f} s; targets {shares}")
    if profiler:
        print("profiled own time by module:", json.dumps(own_time_by_module(profiler)))
    figures = {"requests": requests, "wall_s": round(wall, 2), "requests_per_s": round(rate),
               "bare_simpy_per_s": round(bare), "ratio": round(rate / bare, 3), "profiled": bool(profiler)}
    if args.sites:
        sited, sited_wall = timed_run(with_sites(scenario, args.sites))
        sited_rate = sited.recorder.size / sited_wall
        print(f"{sited.recorder.size} requests over {args.sites} sites in {sited_wall:.1f} s")
        figures.update(sites=args.sites, sites_requests_per_s=round(sited_rate),
                       ratio_to_single_site=round(sited_rate / rate, 3))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
