"""City-scale benchmark: wall time, peak memory and requests per second of one scenario run (default city-scale.yaml).

Usage: python bench/scale.py [SCENARIO] [--devices N] [--hours H] [--no-federation] [--no-pretrain] [--write DIR]
       [--profile]
       python bench/scale.py --engine [--quick]   the engine alone (no Flower, no scoring), each point in its own process:
         memory: peak RSS at two durations, request table held in memory vs streamed (sim.spill)
         curve: per-request wall cost at 1k, 10k, 100k devices and equal total requests (ratio to 1k)
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


def engine_point(spec: dict) -> dict:
    """One engine measurement, run in this (fresh) process: build, simulate, (stream), by phase and peak RSS."""
    import yaml

    from sim import scenario as scenarios
    from sim.spill import RequestSpill
    from sim.world import World

    data = scaled(yaml.safe_load(Path(spec["scenario"]).read_text()), spec["devices"], spec["hours"], False)
    for group in data["fleet"]:
        group["workload"]["rate"] = f"{spec['rate_per_device_s']!r}/s"
    data.setdefault("federation", {}).setdefault("pretrain", {})["rounds"] = 0
    data["output"] = {"requests": "none", "links": False, "battery": False, "stream": False}  # spilled here
    scenario = scenarios.parse(data, spec["scenario"])
    t0 = time.perf_counter()
    world = World(scenario)
    t1 = time.perf_counter()
    spill = RequestSpill(world, Path(spec["spill"])) if spec.get("spill") else None
    world.run(progress=spill.flush if spill else None)
    t2 = time.perf_counter()
    if spill:
        spill.close()
    t3 = time.perf_counter()
    requests = world.recorder.size
    return {"devices": scenario.device_count, "simulated_h": scenario.duration / 3600, "streamed": bool(spill),
            "requests": requests, "build_s": round(t1 - t0, 2), "simulate_s": round(t2 - t1, 2),
            "stream_close_s": round(t3 - t2, 2), "requests_per_s": round(requests / (t3 - t0), 1),
            "us_per_request": round((t3 - t0) / requests * 1e6, 3),
            "simulate_us_per_request": round((t2 - t1) / requests * 1e6, 3),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def _in_child(spec: dict) -> dict:
    """engine_point in a fresh interpreter, so each point's peak RSS is its own; the tree's peak sampled too."""
    import subprocess

    memory = TreeMemory()
    done = subprocess.run([sys.executable, __file__, "--point", json.dumps(spec)], capture_output=True, text=True,
                          check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    point = json.loads(done.stdout.splitlines()[-1])
    point["peak_tree_rss_mb"] = round(memory.stop(), 1)
    return point


def engine_main(quick: bool) -> None:
    import tempfile

    scenario = str(ROOT / "scenarios" / "city-scale.yaml")
    report: dict = {"quick": quick, "memory": [], "curve": []}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        # memory: 2,000 devices at 1 request/s for 0.25 h and 4x as long, held vs streamed
        devices, rate = (1000, 1.0) if quick else (2000, 1.0)
        for hours in ((0.1, 0.4) if quick else (0.25, 1.0)):
            for streamed in (False, True):
                point = _in_child({"scenario": scenario, "devices": devices, "hours": hours,
                                   "rate_per_device_s": rate, "spill": f"{tmp}/rows.parquet" if streamed else None})
                print(json.dumps(point), flush=True)
                report["memory"].append(point)
        # curve: equal total requests at 1k, 10k, 100k devices
        total, hours = (300_000, 0.25) if quick else (3_000_000, 1.0)
        for devices in (1_000, 10_000, 100_000):
            point = _in_child({"scenario": scenario, "devices": devices, "hours": hours,
                               "rate_per_device_s": total / (devices * hours * 3600.0), "spill": None})
            print(json.dumps(point), flush=True)
            report["curve"].append(point)
    held = [p for p in report["memory"] if not p["streamed"]]
    streamed = [p for p in report["memory"] if p["streamed"]]
    base = report["curve"][0]
    report["summary"] = {
        # peak RSS growth when the run is 4x as long (same fleet): held in memory vs streamed
        "held_rss_growth_mb": round(held[1]["peak_rss_mb"] - held[0]["peak_rss_mb"], 1),
        "streamed_rss_growth_mb": round(streamed[1]["peak_rss_mb"] - streamed[0]["peak_rss_mb"], 1),
        "held_vs_streamed_peak_rss_long": round(held[1]["peak_rss_mb"] / streamed[1]["peak_rss_mb"], 2),
        "stream_cost_ratio": round(streamed[1]["us_per_request"] / held[1]["us_per_request"], 3),
        "per_request_cost_vs_1k": {p["devices"]: round(p["us_per_request"] / base["us_per_request"], 3)
                                   for p in report["curve"]},
        "simulate_cost_vs_1k": {p["devices"]: round(p["simulate_us_per_request"] / base["simulate_us_per_request"], 3)
                                for p in report["curve"]},
    }
    print(json.dumps(report))


def main() -> None:
    if "--point" in sys.argv:
        print(json.dumps(engine_point(json.loads(sys.argv[sys.argv.index("--point") + 1]))))
        return
    if "--engine" in sys.argv:
        engine_main("--quick" in sys.argv)
        return
    import torch
    import yaml

    torch.set_num_threads(1)
    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    from sim import scenario as scenarios
    from sim.app.runner import run_scenario, write_run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default=str(ROOT / "scenarios" / "city-scale.yaml"))
    parser.add_argument("--scenario", dest="named", default=None, help="a bundled scenario by name: metro-scale")
    parser.add_argument("--devices", type=int, default=None, help="scale the fleet to N devices")
    parser.add_argument("--hours", type=float, default=None, help="simulated hours")
    parser.add_argument("--no-federation", dest="federation", action="store_false", default=None)
    parser.add_argument("--no-pretrain", dest="pretrain", action="store_false",
                        help="skip federated pretraining (its Flower run registers every device as a supernode)")
    parser.add_argument("--write", type=Path, default=None, help="also write the run directory here (no plots)")
    parser.add_argument("--profile", action="store_true", help="cProfile the run; top 25 by tottime on stderr")
    args = parser.parse_args()
    if args.named:
        args.scenario = str(ROOT / "scenarios" / f"{args.named}.yaml")

    full = scenarios.parse(yaml.safe_load(Path(args.scenario).read_text()), args.scenario).duration
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
    report.update(extrapolated(report, full, scenario.duration))
    print(json.dumps(report))


def extrapolated(report: dict, full_s: float, ran_s: float) -> dict:
    """A run of a fraction of the scenario's simulated time: the full run's wall time, with setup once and the
    time-proportional phases (simulating, scoring and summarising, writing) scaled by full/ran. Stated, not
    measured: FL rounds, the streamed window and the kept latencies follow simulated time the same way."""
    if ran_s >= full_s:
        return {"fraction_of_scenario": 1.0}
    scale = full_s / ran_s
    per_time = report["simulate_s"] + report["score_and_summary_s"] + (report["write_s"] or 0.0)
    return {"fraction_of_scenario": round(ran_s / full_s, 4),
            "extrapolated_full_wall_s": round(report["setup_s"] + per_time * scale, 1),
            "extrapolated_full_requests": round(report["requests"] * scale)}


if __name__ == "__main__":
    main()
