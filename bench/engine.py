"""Engine throughput: simulated requests per wall-second against a bare SimPy loop of the same event count.

1,000 devices (Pis on WiFi, phones on LTE, gateways on 5G), 1 simulated hour, about one request per
device per second, targets drawn at random over local/edge/cloud, no federation.
Usage: python bench/engine.py [--devices N] [--hours H]
"""
from __future__ import annotations

import argparse
import json
import time

import simpy

from sim import scenario as scenarios
from sim.world import World


def bench_scenario(devices: int, hours: float) -> scenarios.Scenario:
    third = devices // 3
    return scenarios.parse({
        "name": "engine-bench", "seed": 1, "duration": f"{hours}h",
        "policy": {"name": "random", "params": {"p_local": 0.5, "p_edge": 0.3, "p_cloud": 0.2}},
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--hours", type=float, default=1.0)
    args = parser.parse_args()
    world = World(bench_scenario(args.devices, args.hours))
    started = time.perf_counter()
    world.run()
    wall = time.perf_counter() - started
    requests = world.recorder.size
    rate = requests / wall
    bare = bare_simpy_rate(requests)
    shares = {name: round(float((world.recorder.target[:requests] == i).mean()), 3)
              for i, name in enumerate(("local", "edge", "cloud"))}
    print(f"{requests} requests in {wall:.1f} s; targets {shares}")
    print(json.dumps({"requests": requests, "wall_s": round(wall, 2), "requests_per_s": round(rate),
                      "bare_simpy_per_s": round(bare), "ratio": round(rate / bare, 3)}))


if __name__ == "__main__":
    main()
