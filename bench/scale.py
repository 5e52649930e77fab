"""City-scale benchmark: wall time, peak memory and requests per second of one scenario run (default city-scale.yaml).

Usage: python bench/scale.py [SCENARIO] [--devices N] [--hours H] [--no-federation] [--no-pretrain] [--write DIR]
       [--profile]
The fleet is scaled proportionally to N devices; the last line printed is one JSON object.
peak_rss_mb is this process's ru_maxrss; peak_tree_rss_mb samples (every 0.2 s) the summed RSS of this
process and all its children, so it includes the Ray and Flower processes of a federated run (needs psutil:
pip install -e ".[bench]").
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def scaled(data: dict, devices: int | None, hours: float | None, federation: bool | None) -> dict:
    """The scenario mapping with its fleet scaled to `devices`, its duration set to `hours`."""
    data = json.loads(json.dumps(data))
    if devices is not None:
        total = sum(g["count"] for g in data["fleet"])
        counts = [max(1, round(g["count"] * devices / total)) for g in data["fleet"]]
        counts[0] = max(1, counts[0] + devices - sum(counts))
        for group, count in zip(data["fleet"], counts):
            group["count"] = count
        fed = data.setdefault("federation", {})
        fed["clients_per_round"] = min(fed.get("clients_per_round", 5), devices)
        pre = fed.setdefault("pretrain", {})
        pre["clients_per_round"] = min(pre.get("clients_per_round", 10), devices)
    if hours is not None:
        data["duration"] = f"{hours}h"
        fed = data.setdefault("federation", {})
        every_h = 1.0
        fed["rounds"] = min(fed.get("rounds", 2), max(0, int(hours / every_h)))
    if federation is not None:
        data.setdefault("federation", {})["enabled"] = federation
    return data


class TreeMemory:
    """Peak summed RSS of this process and its descendants (Ray's raylet, GCS and actors), sampled in a thread."""

    def __init__(self, every_s: float = 0.2):
        import threading

        import psutil

        self.peak = 0
        self._stop = threading.Event()
        me = psutil.Process()

        def sample() -> None:
            while not self._stop.wait(every_s):
                total = 0
                for proc in [me] + me.children(recursive=True):
                    try:
                        total += proc.memory_info().rss
                    except psutil.Error:  # a worker that just exited
                        pass
                self.peak = max(self.peak, total)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak / 2**20


def main() -> None:
    import torch
    import yaml

    torch.set_num_threads(1)
    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    from sim import scenario as scenarios
    from sim.app.runner import run_scenario, write_run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default=str(ROOT / "scenarios" / "city-scale.yaml"))
    parser.add_argument("--devices", type=int, default=None, help="scale the fleet to N devices")
    parser.add_argument("--hours", type=float, default=None, help="simulated hours")
    parser.add_argument("--no-federation", dest="federation", action="store_false", default=None)
    parser.add_argument("--no-pretrain", dest="pretrain", action="store_false",
                        help="skip federated pretraining (its Flower run registers every device as a supernode)")
    parser.add_argument("--write", type=Path, default=None, help="also write the run directory here (no plots)")
    parser.add_argument("--profile", action="store_true", help="cProfile the run; top 25 by tottime on stderr")
    args = parser.parse_args()

    data = scaled(yaml.safe_load(Path(args.scenario).read_text()), args.devices, args.hours, args.federation)
    if not args.pretrain:
        data.setdefault("federation", {}).setdefault("pretrain", {})["rounds"] = 0
    scenario = scenarios.parse(data, args.scenario)
    marks: dict[str, float] = {}

    def progress(now: float) -> None:
        marks.setdefault("first", time.perf_counter())
        if now >= scenario.duration:
            marks["simulated"] = time.perf_counter()

    profiler = cProfile.Profile() if args.profile else None
    memory = TreeMemory()
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    result = run_scenario(scenario, progress=progress)
    finished = time.perf_counter()
    written = None
    if args.write:
        write_run(result, args.write, plots=False)
        written = time.perf_counter() - finished
    if profiler:
        profiler.disable()
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
        print(text.getvalue(), file=sys.stderr)
    wall = finished - started
    requests = int(result.summary["requests"])
    simulated_end = marks.get("simulated", finished)
    report = {
        "scenario": scenario.name, "devices": scenario.device_count, "simulated_h": scenario.duration / 3600,
        "federation": scenario.federation.enabled and scenario.federation.rounds > 0,
        "requests": requests, "wall_s": round(wall, 2),
        # setup: building the world and pretraining through Flower (until the first 1% of simulated time)
        "setup_s": round(marks.get("first", started) - started, 2),
        "simulate_s": round(simulated_end - marks.get("first", started), 2),
        "score_and_summary_s": round(finished - simulated_end, 2),
        "write_s": None if written is None else round(written, 2),
        "requests_per_s": round(requests / wall, 1),
        "simulated_requests_per_s": round(requests / max(simulated_end - marks.get("first", started), 1e-9), 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_tree_rss_mb": round(memory.stop(), 1),
        "bytes_per_request_rss": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / max(requests, 1), 1),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
