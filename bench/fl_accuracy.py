"""Federated accuracy with an honest protocol: settings chosen on a validation window, results on the test window.

Runs scenarios/hierarchical-fl.yaml (30 households at 3 sites, an h16 LSTM from scratch, 12 h) as flat sync
FedAvg (9 clients a round), hierarchical (3 a site, k = 2, as written) and FedBuff (9 training at once,
buffer 4), each with as many aggregated device updates (bench/fl_compare.variants), plus the central
reference (clients/central.py: the same model trained on the pooled windows).
1. Validation: the scenario started 48 h earlier (clients.data.validation_start), so versions.csv's held-out
   hours are the 48 right before the test window and no test hour is ever loaded. Flat FedAvg runs every
   (local_epochs, learning_rate) of GRID once (the scenario's seed); the lowest final-version MSE wins and all
   three methods use it (one tuning for all: Flower runs are what this 2-core machine has least of).
2. Test: each method with the chosen settings on every seed of --seeds, scored on versions.csv's 48 test hours
   (the final global version, never the best one). The central reference keeps its fixed settings (20 epochs
   at 3e-3, then 5 at 3e-4; chosen before this protocol, not tuned on either window) and the same seeds.
Means over the seeds with 95% Student t intervals (plots.groups.mean_ci). Every finished run is appended to
--out/runs.jsonl and skipped when the bench is run again (a stopped bench resumes).
Usage: PYTHONPATH=. python bench/fl_accuracy.py [SCENARIO] [--seeds 5,6,7] [--out DIR] [--jobs 1]
The last line is one JSON object.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRID = [(2, 0.003), (5, 0.003)]  # (local_epochs, learning_rate); 5 and 0.003 are the scenario's


def flat_of(scenario):
    """The flat twin of a hierarchical scenario: no hierarchy, clients_per_round x sites a round."""
    fed = scenario.federation
    if fed.hierarchy is None:
        return scenario
    flat = fed.model_copy(update={"hierarchy": None, "clients_per_round": fed.clients_per_round * len(scenario.sites)})
    return scenario.model_copy(update={"federation": flat})


def method_scenario(flat, method: str, epochs: int, lr: float, seed: int, validation: bool):
    from bench.fl_compare import variants
    from clients.data import validation_start
    from sim import scenario as scenarios
    from sim.forecasts import HELD_OUT_HOURS

    data = flat.model_dump(mode="json")
    data["federation"].update({**variants(flat)[method], "local_epochs": epochs, "learning_rate": lr})
    if method == "fedbuff":  # a client timeout, not a round deadline: keep the scenario's if it is longer
        data["federation"]["round_deadline"] = f"{max(flat.federation.round_deadline, 600.0)}s"
    data["seed"] = seed
    if validation:
        data["data"]["start"] = validation_start(flat.data.start, HELD_OUT_HOURS)
    return scenarios.parse(data, "bench/fl_accuracy.py")


def final_mse(scenario) -> float:
    import torch

    from sim.app.runner import run_scenario

    torch.set_num_threads(1)
    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    edge = [v for v in run_scenario(scenario).versions if v["model"] == "edge"]
    return float(edge[-1]["mse"])


def central_mse(scenario, seed: int) -> float:
    import torch

    from clients.central import train_central
    from clients.device import DeviceSettings, score_fleet
    from clients.model import EDGE_MODEL
    from sim.forecasts import device_config, score_versions

    torch.set_num_threads(1)
    settings = DeviceSettings.from_config(device_config(scenario))
    end_hour, span_hours = int(scenario.duration // 3600), int(scenario.federation.train_span // 3600)
    reference = train_central(settings, range(scenario.device_count), end_hour, span_hours, seed=seed)
    return float(score_versions(lambda r, w: score_fleet(settings, r, w), scenario.device_count,
                                {(EDGE_MODEL, 0): reference.arrays}, end_hour)[0]["mse"])


class Runs:
    """Finished runs by key, kept in a JSON-lines file so that a stopped bench resumes."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.done = {}
        if path.exists():
            for line in path.read_text().splitlines():
                row = json.loads(line)
                self.done[row["key"]] = row["mse"]

    def all(self, jobs: dict[str, tuple], workers: int) -> dict[str, float]:
        """key -> MSE for every job (key -> (function, *args)); the missing ones run in `workers` processes."""
        context = multiprocessing.get_context("spawn")  # each worker starts its own Ray; no forked Ray state
        for _ in range(2):  # a run whose Ray failed to start on the loaded machine gets one more try
            missing = {key: job for key, job in jobs.items() if key not in self.done}
            with concurrent.futures.ProcessPoolExecutor(max(1, workers), mp_context=context) as pool:
                futures = {pool.submit(*job): key for key, job in missing.items()}
                for future in concurrent.futures.as_completed(futures):
                    key = futures[future]
                    try:
                        self.done[key] = future.result()
                    except Exception as error:  # noqa: BLE001 (reported, retried once, then fatal below)
                        print(f"{key}: failed ({type(error).__name__}: {error})", flush=True)
                        continue
                    with self.path.open("a") as handle:
                        handle.write(json.dumps({"key": key, "mse": self.done[key]}) + "\n")
                    print(f"{key}: {self.done[key]:.4f}", flush=True)
        return {key: self.done[key] for key in jobs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default=str(ROOT / "scenarios" / "hierarchical-fl.yaml"))
    parser.add_argument("--seeds", default="5,6,7")
    parser.add_argument("--out", default="/tmp/fl-accuracy")
    parser.add_argument("--methods", default="flat,hierarchical,fedbuff",
                        help="the federated methods to run now (several processes can share --out)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (each its own process and Ray)")
    args = parser.parse_args()
    from plots.groups import mean_ci
    from sim import scenario as scenarios

    flat = flat_of(scenarios.load(args.scenario))
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = Runs(Path(args.out) / f"{flat.name}-runs.jsonl")
    tuned = runs.all({f"validation flat epochs={e} lr={lr} seed={flat.seed}":
                      (final_mse, method_scenario(flat, "flat", e, lr, flat.seed, True)) for e, lr in GRID}, args.jobs)
    scores = dict(zip(GRID, tuned.values()))
    epochs, lr = min(scores, key=scores.get)
    jobs = {f"test central seed={s}": (central_mse, method_scenario(flat, "flat", epochs, lr, s, False), s)
            for s in seeds}
    for method in args.methods.split(","):
        jobs.update({f"test {method} epochs={epochs} lr={lr} seed={s}":
                     (final_mse, method_scenario(flat, method, epochs, lr, s, False)) for s in seeds})
    done = runs.all(jobs, args.jobs)
    test = {method: [done[k] for k in jobs if k.startswith(f"test {method} ")]
            for method in ("central", *args.methods.split(","))}
    print(f"\n| model | settings | test MSE, mean of {len(seeds)} seeds | 95% interval | vs central |")
    print("|---|---|---|---|---|")
    summary = {}
    central_mean = mean_ci(test["central"])[0]
    for method, values in test.items():
        mean, half = mean_ci(values)
        settings = "fixed: 20 + 5 epochs, lr 3e-3" if method == "central" else f"{epochs} epochs, lr {lr} (validation)"
        print(f"| {method} | {settings} | {mean:.4f} | ±{half:.4f} | {mean / central_mean:.3f}x |")
        summary[method] = {"mean": round(mean, 4), "ci95": round(half, 4), "seeds": values,
                           "ratio_to_central": round(mean / central_mean, 3)}
    print(json.dumps({"scenario": flat.name, "seeds": seeds, "chosen": {"local_epochs": epochs, "learning_rate": lr},
                      "validation_mse": {f"epochs={e} lr={r}": round(m, 4) for (e, r), m in scores.items()},
                      "test": summary}))


if __name__ == "__main__":
    main()
