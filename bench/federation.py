"""Federation overhead: 10 rounds co-simulated (SimPy world + Flower) vs the same ClientApp under plain Flower.

Both runs use the same devices, the same selection (20 devices, 8 per round, seeded), the same
strategy (FedAvg) and the same ClientApp; the co-simulated run also replays every round's cost in
simulated time, serves a light request load and scores forecasts at the end.
Usage: python bench/federation.py
"""
from __future__ import annotations

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

ROUNDS, DEVICES, PER_ROUND = 10, 20, 8


def bench_scenario() -> scenarios.Scenario:
    return scenarios.parse({
        "name": "federation-bench", "seed": 1, "duration": f"{ROUNDS * 10 + 5}min", "policy": {"name": "local"},
        "fleet": [{"profile": "raspberry-pi-4", "count": DEVICES, "link": "wifi",
                   "workload": {"kind": "periodic", "rate": "1/min", "deadline": "100ms"}}],
        "models": {"edge": {"hidden": 16}},
        "federation": {"pretrain": {"rounds": 0}, "rounds": ROUNDS, "first_round_at": "1min", "every": "10min",
                       "clients_per_round": PER_ROUND, "local_epochs": 1, "train_span": "14d",
                       "round_deadline": "5min"}}, "bench")


def plain_flower(scenario: scenarios.Scenario) -> dict:
    """The same rounds with nothing simulated: select, train through the Grid, aggregate."""
    holder: dict = {}
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        fleet = FlowerFleet(grid, DEVICES, device_config(scenario))
        strategy = make_strategy(scenario.federation)
        rng = stream(scenario.seed, "federation")
        arrays = ArrayRecord(get_arrays(build_model(ModelSpec(hidden=16), scenario.seed)))
        for server_round in range(1, ROUNDS + 1):
            chosen = sorted(int(d) for d in rng.choice(DEVICES, size=PER_ROUND, replace=False))
            config = {"sim-hour": server_round, "local-epochs": 1, "learning-rate": 0.01, "train-span-hours": 336,
                      "compression": "none", "fault-rate": 0.0}
            replies = fleet.train(strategy, server_round, chosen, arrays, config)
            arrays, _ = strategy.aggregate_train(server_round, list(replies.values()))
        holder["arrays"] = arrays

    return _simulate_flower(app, holder, scenario, "arrays")


def main() -> None:
    scenario = bench_scenario()
    plains, cosims = [], []
    for _ in range(2):  # alternate A B A B so warm-up and noise fall on both; report medians
        started = time.perf_counter()
        plain_flower(scenario)
        plains.append(time.perf_counter() - started)
        started = time.perf_counter()
        out = run_federated(scenario)
        cosims.append(time.perf_counter() - started)
    plain, cosim = statistics.median(plains), statistics.median(cosims)
    rounds = sum(r["phase"] == "deploy" for r in out["rounds"])
    print(f"plain Flower {plain:.1f} s, co-simulated {cosim:.1f} s ({rounds} rounds, "
          f"{out['world'].recorder.size} requests)")
    print(json.dumps({"rounds": rounds, "plain_flower_s": round(plain, 2), "cosimulated_s": round(cosim, 2),
                      "ratio": round(cosim / plain, 3)}))


if __name__ == "__main__":
    main()
