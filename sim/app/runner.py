"""Run a scenario end to end (with or without Flower) and write its run directory."""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from sim import memory, scenario as scenarios
from sim.forecasts import Evaluator, Requests, Weights, device_config, score
from sim.app import pretrain_cache
from sim.app.interrupts import stop_ray_on_interrupt
from sim.app.logs import quiet_imported_frameworks, ray_logging_level
from sim.app.manifest import manifest
from sim.app.output import atomic_directory, write_csv, write_json, write_parquet
from sim.outages import OUTAGE_COLUMNS
from sim.app.summary import device_rows, kwh_errors, local_inference, summarize, with_ledgers
from sim.app import topology_files
from sim.policies import TARGET_NAMES
from sim.recorder import DROP_REASONS, SERVED
from sim.world import World
from clients.spec import MODEL_NAMES

# requests.parquet's categorical columns: code -> label
REQUEST_LABELS = {"target": TARGET_NAMES, "model": MODEL_NAMES, "dropped": DROP_REASONS}
ROUND_CLIENT_COLUMNS = ["round", "device", "profile", "status", "start_s", "download_end_s", "train_start_s",
                        "train_end_s", "upload_end_s", "deadline_s"]
ROUND_COLUMNS = ["phase", "round", "start_s", "deadline_s", "selected", "aggregated", "stragglers", "failed",
                 "model_version", "train_loss", "upload_bytes"]
# hierarchical FL's rounds.csv also names each round's level and site and its WAN bytes (server.hierarchy)
HIERARCHY_ROUND_COLUMNS = ["level", "site", "end_s", "wan_bytes", "wan_bytes_saved"]


def with_extra_columns(columns: list[str], rows: list[dict]) -> list[str]:
    """`columns`, then any other key the rows carry in first-seen order (asynchronous and availability runs add
    staleness and dropout reasons; a synchronous run's files keep exactly `columns`)."""
    extra = dict.fromkeys(key for row in rows for key in row if key not in columns)
    return columns + list(extra)


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
    exclusions: list[dict] = field(default_factory=list)  # fleet groups left out of training (sim.memory)
    outages: list[dict] | None = None  # outages.csv (sim.outages); None: the scenario declares none
    requests_file: Path | None = None  # a streamed run's requests.parquet, written already (sim.app.stream)
    requests_written: int | None = None
    wall_s: float | None = None  # simulation and scoring, not writing the run directory
    pretrained_note: str = ""  # where the starting models came from (never in summary.json: a hit equals a miss)
    topology: topology_files.TopologyFiles | None = None  # topology.json, positions.csv, handovers.csv


@dataclass(frozen=True)
class Pretrained:
    """What devices and servers start with: the edge model, the cloud model (if any), the pretraining rounds."""

    edge: tuple[np.ndarray, ...]
    cloud: tuple[np.ndarray, ...] | None
    rounds: tuple[dict, ...]
    note: str = ""  # where they came from, for the user: "cached (key ...)", "trained, now cached (key ...)"


def _score_on_devices(scenario: scenarios.Scenario) -> Evaluator:
    """Each device's forecasts scored in-process, by the same code its ClientApp runs, without a message each."""
    import torch

    from clients.device import DeviceSettings

    torch.set_num_threads(1)  # tiny models: extra threads only contend (and stall when cores are shared)
    return InProcessScorer(DeviceSettings.from_config(device_config(scenario)))


class InProcessScorer:
    """An Evaluator that calls clients.device.score_fleet, and tells the slicing callers (sim.forecasts) which
    devices read the same stream, so that they ask those devices together and each window is forecast once."""

    def __init__(self, settings):
        self.settings = settings

    def __call__(self, requests: Requests, weights: Weights):
        from clients.device import score_fleet

        return score_fleet(self.settings, requests, weights)

    def stream_groups(self, devices: np.ndarray) -> np.ndarray:
        return self.settings.stream_groups(devices)


# auto runs a federation in process up to this many ClientApp train calls (pretraining and rounds): past it,
# Ray's parallel ClientApps win back its start (about 7 s here) on a machine with cores to spare
INPROCESS_MAX_TRAIN_CALLS = 400


def choose_backend(scenario: scenarios.Scenario) -> str:
    """"inprocess" or "ray" for federation.backend: auto (see INPROCESS_MAX_TRAIN_CALLS; a Ray cluster named by
    RAY_ADDRESS is always used). Either gives the same results bit for bit: this only decides the wall time."""
    import os

    fed = scenario.federation
    if fed.backend != "auto":
        return fed.backend
    if os.environ.get("RAY_ADDRESS"):
        return "ray"
    models = 2 if scenario.models.cloud is not None else 1
    calls = fed.pretrain.rounds * fed.pretrain.clients_per_round * models + fed.rounds * fed.clients_per_round
    return "inprocess" if calls <= INPROCESS_MAX_TRAIN_CALLS else "ray"


def _simulate_flower(server_app, holder: dict, scenario: scenarios.Scenario, wanted: str) -> dict:
    """Run a ServerApp against one ClientApp per supernode, in this process or under Flower's simulation
    engine (Ray), as choose_backend says.

    This is the composition root: it alone joins the cloud side (server/) with the device side
    (clients/), so server/ never needs to import what reads a device's data.
    """
    from clients.app import make_client_app

    quiet_imported_frameworks()  # flwr (and ray) are imported now: their imports reset their loggers
    if choose_backend(scenario) == "inprocess":
        from server.inprocess import run_in_process

        run_in_process(server_app, make_client_app(), scenario.flower_supernodes, scenario.seed)
    else:
        _simulate_ray(server_app, make_client_app(), scenario.flower_supernodes)
    if "failed" in holder:  # every ClientApp failed: the cause they reported, in one line
        raise holder["failed"]
    if wanted not in holder:
        raise RuntimeError("the Flower run did not finish (see Flower's log above)")
    return holder


def _simulate_ray(server_app, client_app, supernodes: int) -> None:
    import os

    from flwr.simulation import run_simulation

    with stop_ray_on_interrupt():  # Ctrl-C: Ray ends in seconds, Flower's stuck threads are not waited for
        quiet_imported_frameworks()  # ray too is imported now
        run_simulation(
            server_app=server_app,
            client_app=client_app,
            num_supernodes=supernodes,
            # address "local": without it ray.init joins any Ray instance running on the machine (another
            # user's run, `ray start`), where num_cpus is refused and the run fails
            backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                            "init_args": {"address": os.environ.get("RAY_ADDRESS") or "local",
                                          "num_cpus": os.cpu_count() or 1, "include_dashboard": False,
                                          "log_to_driver": False, "logging_level": ray_logging_level()}},
        )


def run_federated(scenario: scenarios.Scenario, progress: Callable[[float], None] | None = None) -> dict:
    """The whole scenario inside a Flower ServerApp: pretraining (or its cached models), rounds in simulated
    time, scoring. out["pretrained_note"] says where the starting models came from."""
    from server.app import make_server_app

    key = pretrain_cache.pretrain_key(scenario) if scenario.federation.pretrain.rounds else None
    cached = pretrain_cache.load(key) if key else None
    holder: dict = {}
    app = make_server_app(scenario, holder, progress, _score_on_devices(scenario), cached)
    out = _simulate_flower(app, holder, scenario, "world")
    if key and cached is None:
        out["pretrained_note"] = _stored(key, *out["pretrained"])
    elif key:
        out["pretrained_note"] = f"cached (key {key[:12]})"
    return out


def _stored(key: str, edge, cloud, rounds) -> str:
    where = pretrain_cache.store(key, list(edge), None if cloud is None else list(cloud), [dict(r) for r in rounds])
    return f"trained, now cached (key {key[:12]})" if where else f"trained (key {key[:12]}; cache not writable)"


@functools.lru_cache(maxsize=8)
def _train(scenario_json: str) -> tuple:
    """Pretraining through Flower (Ray); remembered per process too, for a cache that cannot be written."""
    from server.app import make_pretrain_app

    scenario = scenarios.Scenario.model_validate_json(scenario_json)
    holder: dict = {}
    _simulate_flower(make_pretrain_app(scenario, holder), holder, scenario, "pretrained")
    return holder["pretrained"]


def pretrained(scenario: scenarios.Scenario) -> Pretrained:
    """The models devices and servers start with, trained federatedly on the devices' history; kept on disk
    (sim.app.pretrain_cache) so that runs with the same model, data, seed and pretraining settings share them."""
    from clients.model import ModelSpec, build_model, get_arrays

    if scenario.federation.pretrain.rounds == 0:  # (a cloud model requires pretraining)
        return Pretrained(tuple(get_arrays(build_model(ModelSpec(**scenario.models.edge.model_dump()),
                                                       scenario.seed))), None, (), "untrained (pretrain.rounds: 0)")
    # pretrained as a one-hour run: the same models for every duration and policy
    as_trained = scenario.model_copy(update={"policy": scenarios.PolicyConfig(name="local"), "duration": 3600.0})
    key = pretrain_cache.pretrain_key(as_trained)
    found = pretrain_cache.load(key)
    if found is not None:
        note = f"cached (key {key[:12]})"
    else:
        found = _train(as_trained.model_dump_json())
        note = _stored(key, *found)
    edge, cloud, rounds = found
    return Pretrained(tuple(edge), tuple(cloud) if cloud is not None else None, tuple(rounds), note)


def run_scenario(scenario: scenarios.Scenario | str | Path, *, seed: int | None = None, policy: str | None = None,
                 progress: Callable[[float], None] | None = None, initial: Pretrained | None = None) -> RunResult:
    """Simulate one scenario; with federation enabled the rounds run through Flower's simulation engine.

    `initial` hands in already pretrained models for runs without
    federation, so a worker that must not start Flower (a Ray task) can run them.
    """
    started = time.perf_counter()
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
        note = out.get("pretrained_note", "untrained (pretrain.rounds: 0)")
    else:
        world, round_clients, versions = World(scenario), [], []
        start = initial if initial is not None else pretrained(scenario)
        note = start.note
        world.publish(0, [a.copy() for a in start.edge])
        if start.cloud is not None:
            world.publish_cloud([a.copy() for a in start.cloud])
        rounds = [dict(r) for r in start.rounds]
        world.run(progress)
        if world.spill is None:  # a streamed world is scored group by group (collect)
            table = world.table()
            score(table, scenario.models.int8_on_device, _score_on_devices(scenario), world.weights())
    result = collect(world, rounds, round_clients, versions)
    if scenario.output.forecast_kwh:
        result.summary["forecast_kwh"] = forecast_kwh(scenario, world)
    result.wall_s, result.pretrained_note = time.perf_counter() - started, note
    return result


def forecast_kwh(scenario: scenarios.Scenario, world: World) -> dict:
    """The served requests' forecasts scored again with the on-device model in int8 and in fp32, in kWh per hour
    (each device's own standard deviation, read on the device side: this is the composition root), beside the
    z-scored MSE; and what a local inference costs on each device class (the same for int8 and fp32: the
    simulator charges FLOPs, not the weights' width)."""
    from clients.device import DeviceSettings
    from clients.spec import memory_bytes
    from sim.policies import LOCAL

    if scenario.federation.personalise:
        raise scenarios.ScenarioError("output.forecast_kwh: personal models are scored only on their devices")
    settings = DeviceSettings.from_config(device_config(scenario))
    std = np.array([settings.series(d).std for d in range(world.n_devices)])
    table = world.table()
    columns = {k: v.copy() if k in ("forecast_error", "baseline_error") else v for k, v in table.items()}
    served = table["dropped"] == SERVED
    out: dict = {}
    for name, int8 in (("int8", True), ("fp32", False)):
        score(columns, int8, _score_on_devices(scenario), world.weights())
        errors = columns["forecast_error"][served]
        out[name] = {**kwh_errors(errors, columns["device"][served], std),
                     "mse_z": float(np.nanmean(errors ** 2)) if np.isfinite(errors).any() else None,
                     "model_bytes": memory_bytes(scenario.models.edge.spec, int8=int8).weights_bytes}
    out["persistence"] = kwh_errors(columns["baseline_error"][served], columns["device"][served], std)
    out["local_inference_by_profile"] = {}
    for g, group in enumerate(scenario.fleet):
        mine = np.isin(table["device"], [d.index for d in world.devices if d.group == g])
        out["local_inference_by_profile"][group.profile] = local_inference(
            {k: v[mine] for k, v in table.items() if k in ("dropped", "target", "latency_s", "energy_compute_j",
                                                          "energy_radio_j")}, LOCAL)
    return out


def collect(world: World, rounds: list[dict], round_clients: list[dict], versions: list[dict]) -> RunResult:
    """Everything a finished (and scored) world has to report."""
    scenario = world.scenario
    if world.spill is not None:
        table, devices, summary, file, written = _streamed(world, rounds)
    else:
        table, file, written = world.table(), None, None
        devices = device_rows(world)
        summary = summarize(table, world.energy.spent, rounds, world.policy.name, scenario.seed, scenario.duration)
    summary["scenario"] = scenario.name
    summary["edge_server_energy_j"] = world.edge_energy_j()
    summary["harvested_j"] = float(sum(world.energy.harvested_j) - sum(world.energy.wasted_j))
    excluded = memory.exclusions(scenario) if rounds else []  # only where devices trained
    if excluded:
        summary["fl_excluded"] = {f"{r['profile']} ({r['model']})": r["reason"] for r in excluded}
    if world.mobility is not None:  # handovers, out-of-coverage seconds, requests lost for it
        summary["mobility"] = world.mobility.summary()
    if world.outages is not None:  # per component its down time and timeouts, the windows, the probes sent
        summary["outages"] = world.outages.summary()
    if world.estimates is not None:  # stale estimates re-measured (sim.estimates)
        summary["estimate_probes"] = world.estimates.summary()
    if versions:
        summary["global_model_mse_by_version"] = [v["mse"] for v in versions if v["model"] == "edge"]
        summary["held_out_mse_by_model"] = {v["model"]: v["mse"] for v in versions if v["model"] != "edge"}
    return RunResult(scenario, summary, table, rounds, devices, round_clients, world.link_samples,
                     world.battery_samples, versions, excluded,
                     outages=world.outages.rows() if world.outages is not None else None,
                     requests_file=file, requests_written=written, topology=topology_files.collect(world))


def _streamed(world: World, rounds: list[dict]) -> tuple:
    """A streamed world's requests.parquet (beside its spill) and summary, one row group at a time."""
    from sim.app import stream

    scenario = world.scenario
    if scenario.output.forecast_kwh or scenario.federation.personalise:
        raise scenarios.ScenarioError("output.stream: a streamed run cannot score forecast_kwh or personal models "
                                      "(they need the whole request table): set output.stream: false")
    out = world.spill.path.parent / "requests.parquet"
    folded, written = stream.finish(world, _score_on_devices(scenario), scenario.models.int8_on_device,
                                    lambda device: written_requests(scenario, device), out, REQUEST_LABELS)
    world.spill.path.unlink()
    summary = with_ledgers(folded.summary(), world.energy.spent, rounds, world.policy.name, scenario.seed,
                           scenario.duration)
    devices = device_rows(world, (folded.device_requests, folded.device_served))
    return {}, devices, summary, out, written


def written_requests(scenario: scenarios.Scenario, device: np.ndarray) -> np.ndarray | None:
    """Rows of requests.parquet: None for all, none for `none`, and for `sample` every request of a seeded
    share of the devices (whole per-device sequences, so queues and batteries stay readable)."""
    mode = scenario.output.requests
    if mode == "all":
        return None
    if mode == "none":
        return np.zeros(0, np.int64)
    n = scenario.device_count
    from sim.world import stream

    chosen = stream(scenario.seed, "output-sample").choice(n, size=max(1, round(n * scenario.output.request_sample)),
                                                           replace=False)
    return np.flatnonzero(np.isin(device, chosen))


def write_run(result: RunResult, out: str | Path, plots: bool = True, provenance: dict | None = None) -> Path:
    """Write scenario.yaml, manifest.json, summary.json, requests.parquet, rounds.csv, devices.csv (topology.json,
    positions.csv, handovers.csv when it has sites, mobility or outages) and plots/ atomically (and provenance.json: where the run executed, when the caller says)."""
    out = Path(out)
    with atomic_directory(out) as staging:
        resolved = scenarios.dump(result.scenario)
        (staging / "scenario.yaml").write_text(resolved)
        write_json(staging / "manifest.json", {**manifest(resolved, result.scenario.seed, result.wall_s),
                                               "pretrained": result.pretrained_note})
        if provenance is not None:
            write_json(staging / "provenance.json", provenance)
        if result.requests_file is not None:  # streamed: written already, moved in whole
            _move_streamed(result, staging)
        else:
            rows = written_requests(result.scenario, result.requests["device"])
            requests = result.requests if rows is None else {k: v[rows] for k, v in result.requests.items()}
            write_json(staging / "summary.json", {**result.summary, "requests_written": len(requests["device"])})
            if len(requests["device"]) or result.scenario.output.requests != "none":
                write_parquet(staging / "requests.parquet", requests, REQUEST_LABELS)
        hierarchical = any("level" in r for r in result.rounds)
        write_csv(staging / "rounds.csv", result.rounds, with_extra_columns(
            ROUND_COLUMNS + (HIERARCHY_ROUND_COLUMNS if hierarchical else []), result.rounds))
        write_csv(staging / "round_clients.csv", result.round_clients,
                  with_extra_columns(ROUND_CLIENT_COLUMNS, result.round_clients))
        for name, table in (("devices", result.devices), ("links", result.links), ("battery", result.battery),
                            ("versions", result.versions), ("exclusions", result.exclusions)):
            if table:
                write_csv(staging / f"{name}.csv", table, list(table[0]))
        if result.outages is not None:  # written even when no random outage happened: the run had the risk
            write_csv(staging / "outages.csv", result.outages, OUTAGE_COLUMNS)
        topology_files.write(result.topology, staging)  # sites, mobility or outages: the topology figures' input
        if plots:
            from plots import render_run

            render_run(staging)
    return out


def _move_streamed(result: RunResult, staging: Path) -> None:
    import shutil

    write_json(staging / "summary.json", {**result.summary, "requests_written": result.requests_written})
    if result.requests_written or result.scenario.output.requests != "none":
        shutil.move(result.requests_file, staging / "requests.parquet")
    shutil.rmtree(result.requests_file.parent, ignore_errors=True)
