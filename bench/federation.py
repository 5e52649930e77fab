"""Federation overhead: rounds co-simulated (SimPy world + Flower) vs the same ClientApp under plain Flower.

Two sizes: 20 devices with 8 a round for 10 rounds, and 1,000 devices with 100 a round for 3 rounds. At each
size both runs use the same devices, the same selection (seeded), the same strategy (FedAvg) and the same
ClientApp; the co-simulated run also replays every round's cost in simulated time, serves a light request
load (1 request a minute a device) and scores forecasts at the end.
Usage: PYTHONPATH=. python bench/federation.py [--sizes 20x8x10,1000x100x3]
The last line is one JSON object with each size's times and ratio (target: at most 1.15), and the ratio without
the co-simulation's forecast scoring (the requests' errors and every version's held-out MSE, which plain Flower
does not compute).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")

from flwr.app import ArrayRecord, Context  # noqa: E402
from flwr.serverapp import Grid, ServerApp  # noqa: E402

from clients.model import ModelSpec, build_model, get_arrays  # noqa: E402
from server.app import FlowerFleet  # noqa: E402
from server.strategies import make_strategy  # noqa: E402
from sim import scenario as scenarios  # noqa: E402
from sim.forecasts import device_config  # noqa: E402
from sim.app.runner import _simulate_flower, run_federated  # noqa: E402
from sim.world import stream  # noqa: E402

SIZES = "20x8x10,1000x100x3"  # devices x per round x rounds


def bench_scenario(devices: int, per_round: int, rounds: int) -> scenarios.Scenario:
    return scenarios.parse({
        "name": "federation-bench", "seed": 1, "duration": f"{rounds * 10 + 5}min", "policy": {"name": "local"},
        "fleet": [{"profile": "raspberry-pi-4", "count": devices, "link": "wifi",
                   "workload": {"kind": "periodic", "rate": "1/min", "deadline": "100ms"}}],
        "models": {"edge": {"hidden": 16}},
        "federation": {"pretrain": {"rounds": 0}, "rounds": rounds, "first_round_at": "1min", "every": "10min",
                       "clients_per_round": per_round, "local_epochs": 1, "train_span": "14d",
                       "round_deadline": "5min"}}, "bench")


def plain_flower(scenario: scenarios.Scenario) -> dict:
    """The same rounds with nothing simulated: select, train through the Grid, aggregate."""
    holder: dict = {}
    app = ServerApp()
    fed = scenario.federation
    devices, per_round, rounds = scenario.device_count, fed.clients_per_round, fed.rounds

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        fleet = FlowerFleet(grid, devices, device_config(scenario))
        strategy = make_strategy(scenario.federation)
        rng = stream(scenario.seed, "federation")
        arrays = ArrayRecord(get_arrays(build_model(ModelSpec(hidden=16), scenario.seed)))
        for server_round in range(1, rounds + 1):
            chosen = sorted(int(d) for d in rng.choice(devices, size=per_round, replace=False))
            config = {"sim-hour": server_round, "local-epochs": 1, "learning-rate": 0.01, "train-span-hours": 336,
                      "compression": "none", "fault-rate": 0.0}
            replies = fleet.train(strategy, server_round, chosen, arrays, config)
            arrays, _ = strategy.aggregate_train(server_round, list(replies.values()))
        holder["arrays"] = arrays

    return _simulate_flower(app, holder, scenario, "arrays")  # the backend the co-simulation uses too


class ScoringClock:
    """Wall seconds spent scoring forecasts (clients.device.score_fleet: the requests' and every version's), a
    job plain Flower does not do; the co-simulation looks the function up at call time, so wrapping it counts."""

    def __init__(self):
        import clients.device

        self.module, self.seconds = clients.device, 0.0
        self.original = clients.device.score_fleet

    def __enter__(self):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return self.original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        self.module.score_fleet = timed
        return self

    def __exit__(self, *exc):
        self.module.score_fleet = self.original


def measure(devices: int, per_round: int, rounds: int, repeats: int = 2) -> dict:
    """Median wall seconds of plain Flower and of the co-simulation, alternated A B A B (warm-up and noise on both)."""
    scenario = bench_scenario(devices, per_round, rounds)
    plains, cosims, scorings = [], [], []
    for _ in range(repeats):
        started = time.perf_counter()
        plain_flower(scenario)
        plains.append(time.perf_counter() - started)
        started = time.perf_counter()
        with ScoringClock() as scoring:
            out = run_federated(scenario)
        cosims.append(time.perf_counter() - started)
        scorings.append(scoring.seconds)
    plain, cosim, score = statistics.median(plains), statistics.median(cosims), statistics.median(scorings)
    done = sum(r["phase"] == "deploy" for r in out["rounds"])
    print(f"{devices} devices, {per_round} a round: plain Flower {plain:.1f} s, co-simulated {cosim:.1f} s "
          f"({done} rounds, {out['world'].recorder.size} requests; {score:.1f} s of it scoring forecasts), "
          f"ratio {cosim / plain:.3f}, without the scoring {(cosim - score) / plain:.3f}", flush=True)
    return {"devices": devices, "per_round": per_round, "rounds": done, "plain_flower_s": round(plain, 2),
            "cosimulated_s": round(cosim, 2), "scoring_s": round(score, 2), "ratio": round(cosim / plain, 3),
            "ratio_without_scoring": round((cosim - score) / plain, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=SIZES, help="devices x per round x rounds, comma separated")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    results = [measure(*(int(v) for v in size.split("x")), repeats=args.repeats) for size in args.sizes.split(",")]
    print(json.dumps({f"{r['devices']}x{r['per_round']}": r for r in results}))


if __name__ == "__main__":
    main()
