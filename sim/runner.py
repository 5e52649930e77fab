"""Run a scenario end to end (with or without Flower) and write its run directory."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from sim import scenario as scenarios
from sim.forecasts import Requests, device_config, requests_by_device, score
from sim.rundir import atomic_directory, write_csv, write_json, write_parquet
from sim.summary import device_rows, summarize
from sim.world import World

ROUND_CLIENT_COLUMNS = ["round", "device", "profile", "status", "start_s", "download_end_s", "train_start_s",
                        "train_end_s", "upload_end_s", "deadline_s"]
ROUND_COLUMNS = ["phase", "round", "start_s", "deadline_s", "selected", "aggregated", "stragglers", "failed",
                 "model_version", "train_loss", "upload_bytes"]


@dataclass
class RunResult:
    scenario: scenarios.Scenario
    summary: dict
    requests: dict[str, np.ndarray]
    rounds: list[dict] = field(default_factory=list)
    devices: list[dict] = field(default_factory=list)
    round_clients: list[dict] = field(default_factory=list)
    links: list[dict] = field(default_factory=list)
    battery: list[dict] = field(default_factory=list)
    versions: list[dict] = field(default_factory=list)


def _score_on_devices(scenario: scenarios.Scenario):
    """Without Flower: each device scores its own requests in-process, exactly as its ClientApp would."""
    import torch

    from clients.device import DeviceSettings, score_requests

    torch.set_num_threads(1)  # tiny models: extra threads only contend (and stall when cores are shared)
    settings = DeviceSettings.from_config(device_config(scenario))

    def evaluate(requests: Requests, versions):
        return {dev: score_requests(settings, dev, cols["hour"], cols["version"], cols["quantized"], versions)
                for dev, cols in requests.items()}

    return evaluate


def _simulate_flower(server_app, holder: dict, devices: int, wanted: str) -> dict:
    """Run a ServerApp against one ClientApp per device under Flower's simulation engine (Ray).

    This is the composition root: it alone joins the cloud side (server/) with the device side
    (clients/), so server/ never needs to import what reads a device's data.
    """
    import os

    from flwr.simulation import run_simulation

    from clients.app import make_client_app

    run_simulation(
        server_app=server_app,
        client_app=make_client_app(),
        num_supernodes=devices,
        backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                        "init_args": {"num_cpus": os.cpu_count() or 1, "include_dashboard": False,
                                      "log_to_driver": False}},
    )
    if wanted not in holder:
        raise RuntimeError("the Flower run did not finish (see Flower's log above)")
    return holder


def run_federated(scenario: scenarios.Scenario, progress: Callable[[float], None] | None = None) -> dict:
    """The whole scenario inside a Flower ServerApp: pretraining, rounds in simulated time, scoring."""
    from server.app import make_server_app

    holder: dict = {}
    return _simulate_flower(make_server_app(scenario, holder, progress), holder, scenario.device_count, "world")


@functools.lru_cache(maxsize=8)
def _pretrained(key: str) -> tuple[tuple[np.ndarray, ...], tuple[dict, ...]]:
    from server.app import make_pretrain_app

    scenario = scenarios.Scenario.model_validate_json(key)
    holder: dict = {}
    _simulate_flower(make_pretrain_app(scenario, holder), holder, scenario.device_count, "arrays")
    return tuple(holder["arrays"]), tuple(holder["rounds"])


def pretrained(scenario: scenarios.Scenario) -> tuple[list[np.ndarray], list[dict]]:
    """The model devices ship with, trained federatedly on their history (cached per process: runs that differ
    only in policy, duration or workload share it)."""
    from clients.model import ModelSpec, build_model, get_arrays

    if scenario.federation.pretrain.rounds == 0:
        return get_arrays(build_model(ModelSpec(**scenario.models.edge.model_dump()), scenario.seed)), []
    relevant = scenario.model_copy(update={"policy": scenarios.PolicyConfig(name="local"), "duration": 3600.0})
    arrays, rounds = _pretrained(relevant.model_dump_json())
    return [a.copy() for a in arrays], [dict(r) for r in rounds]


def run_scenario(scenario: scenarios.Scenario | str | Path, *, seed: int | None = None, policy: str | None = None,
                 progress: Callable[[float], None] | None = None,
                 initial: tuple[list[np.ndarray], list[dict]] | None = None) -> RunResult:
    """Simulate one scenario; with federation enabled the rounds run through Flower's simulation engine.

    `initial` (arrays, pretraining rounds) hands in an already pretrained model for runs without
    federation, so a worker that must not start Flower (a Ray task) can run them.
    """
    source = "<scenario>"
    if not isinstance(scenario, scenarios.Scenario):
        source = str(scenario)
        scenario = scenarios.load(scenario)
    if seed is not None or policy is not None:
        scenario = scenarios.with_overrides(scenario, seed=seed, policy=policy, source=source)
    fed = scenario.federation
    if fed.enabled and fed.rounds > 0:
        out = run_federated(scenario, progress)
        world, rounds, round_clients, versions = out["world"], out["rounds"], out["round_clients"], out["versions"]
    else:
        world, round_clients, versions = World(scenario), [], []
        arrays, rounds = initial if initial is not None else pretrained(scenario)
        world.publish(0, [a.copy() for a in arrays])
        rounds = [dict(r) for r in rounds]
        world.run(progress)
        table = world.table()
        score(table, requests_by_device(table, scenario.models.int8_on_device), _score_on_devices(scenario),
              world.versions)
    return collect(world, rounds, round_clients, versions)


def collect(world: World, rounds: list[dict], round_clients: list[dict], versions: list[dict]) -> RunResult:
    """Everything a finished (and scored) world has to report."""
    scenario = world.scenario
    table = world.table()
    summary = summarize(table, world.energy.spent, rounds, world.policy.name, scenario.seed, scenario.duration)
    summary["scenario"] = scenario.name
    summary["edge_server_energy_j"] = world.edge_energy_j()
    summary["harvested_j"] = float(sum(world.energy.harvested_j) - sum(world.energy.wasted_j))
    if versions:
        summary["global_model_mse_by_version"] = [v["mse"] for v in versions]
    return RunResult(scenario, summary, table, rounds, device_rows(world), round_clients, world.link_samples,
                     world.battery_samples, versions)


def write_run(result: RunResult, out: str | Path, plots: bool = True) -> Path:
    """Write scenario.yaml, summary.json, requests.parquet, rounds.csv, devices.csv and plots/ atomically."""
    out = Path(out)
    with atomic_directory(out) as staging:
        (staging / "scenario.yaml").write_text(scenarios.dump(result.scenario))
        write_json(staging / "summary.json", result.summary)
        write_parquet(staging / "requests.parquet", result.requests)
        write_csv(staging / "rounds.csv", result.rounds, ROUND_COLUMNS)
        write_csv(staging / "round_clients.csv", result.round_clients, ROUND_CLIENT_COLUMNS)
        for name, rows in (("devices", result.devices), ("links", result.links), ("battery", result.battery),
                           ("versions", result.versions)):
            if rows:
                write_csv(staging / f"{name}.csv", rows, list(rows[0]))
        if plots:
            from plots import render_run

            render_run(staging)
    return out
