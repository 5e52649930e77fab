"""Wall time of `edgefed run scenarios/quickstart.yaml` with the in-process backend against the Ray backend.

Each measurement is the whole command in a fresh process (imports, Flower, the run, the run directory and its
figures), as a user types it. Warm: the pretrained models are already in the cache (EDGEFED_CACHE_DIR, filled
by one untimed run first); cold (--cold): every run starts from an empty cache and pretrains. Backends
alternate A B A B so that the machine's load falls on both; medians are reported.
Usage: python bench/backends.py [--repeats 3] [--cold] [--scenario scenarios/quickstart.yaml]
The last line is a JSON object: {"inprocess_s": ..., "ray_s": ..., "ratio": ray / inprocess, ...}.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("inprocess", "ray")


def timed_run(scenario: str, backend: str, cache: Path, out: Path) -> float:
    env = {**os.environ, "EDGEFED_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sim.app.cli", "run", scenario, "--out", str(out), "--backend", backend],
                   cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="an empty pretrain cache for every run")
    parser.add_argument("--scenario", default="scenarios/quickstart.yaml")
    args = parser.parse_args()
    walls: dict[str, list[float]] = {b: [] for b in BACKENDS}
    with tempfile.TemporaryDirectory(prefix="edgefed-bench-") as tmp:
        shared = Path(tmp) / "cache"
        if not args.cold:  # fill the cache once (untimed)
            timed_run(args.scenario, "inprocess", shared, Path(tmp) / "warmup")
        for i in range(args.repeats):
            for backend in BACKENDS:
                cache = Path(tmp) / f"cache-{backend}-{i}" if args.cold else shared
                wall = timed_run(args.scenario, backend, cache, Path(tmp) / f"{backend}-{i}")
                walls[backend].append(wall)
                print(f"{backend:9s} run {i + 1}: {wall:.1f} s", flush=True)
    here, ray = (statistics.median(walls[b]) for b in BACKENDS)
    print(f"median wall: inprocess {here:.1f} s, ray {ray:.1f} s ({ray / here:.2f}x)")
    print(json.dumps({"scenario": args.scenario, "cache": "cold" if args.cold else "warm", "repeats": args.repeats,
                      "inprocess_s": round(here, 2), "ray_s": round(ray, 2), "ratio": round(ray / here, 3),
                      "inprocess_runs_s": [round(w, 2) for w in walls["inprocess"]],
                      "ray_runs_s": [round(w, 2) for w in walls["ray"]]}))


if __name__ == "__main__":
    main()
