"""Held-out scoring at scale: sim.forecasts.score_versions of several model versions on a metro-scale fleet.

Scores `--versions` freshly initialised edge models of scenarios/metro-scale.yaml on the 48 held-out hours of
`--devices` devices in process, as the end of a metro-scale run does, and reports wall seconds and this
process's peak RSS (run it in a fresh process: the peak is the process's own).
Usage: PYTHONPATH=. python bench/held_out.py [--devices 100000] [--versions 4]
The last line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import resource
import time

from clients.model import build_model, get_arrays
from sim import scenario as scenarios
from sim.app.runner import _score_on_devices
from sim.forecasts import score_versions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--versions", type=int, default=4)
    args = parser.parse_args()
    scenario = scenarios.load("scenarios/metro-scale.yaml")
    weights = {(0, v): get_arrays(build_model(scenario.models.edge.spec, v)) for v in range(args.versions)}
    started = time.perf_counter()
    rows = score_versions(_score_on_devices(scenario), args.devices, weights, int(scenario.duration // 3600))
    print(json.dumps({"devices": args.devices, "versions": args.versions,
                      "seconds": round(time.perf_counter() - started, 1),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                      "mse": [round(r["mse"], 6) for r in rows]}))


if __name__ == "__main__":
    main()
