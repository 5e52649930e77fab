"""The federated round coordinator: a SimPy process that replays what each Flower round costs."""
from __future__ import annotations

import copy
import math
import re
from collections import Counter
from typing import Collection, Protocol

import numpy as np
from flwr.app import ArrayRecord, Message, RecordDict

from clients.pruning import compress_for_deployment
from clients.compression import decode
from clients.model import build_model, get_arrays
from server.model_cache import SiteModelCache
from server.selection import candidates, select
from server.strategies import make_strategy
from sim import memory
from sim.availability import make_availability
from sim.world import World, stream


DISTILL_ALPHA = 0.5  # weight of the true target against the teacher's forecast (clients.compress.distill)


class Fleet(Protocol):
    """Reaches the devices' ClientApps (through a Flower Grid in practice)."""

    def train(self, strategy, server_round: int, devices: list[int], arrays: ArrayRecord,
              config: dict, teacher: ArrayRecord | None = None) -> dict[int, Message]: ...


class FederationFailed(RuntimeError):
    """Every device asked in a step failed: str() is one line naming the cause the ClientApps reported."""


def client_cause(reply: Message | None) -> str:
    """What a failed ClientApp reported, as one line. Flower's reason is "<class 'T'>:<'text'>": a SuperNode gives
    the exception itself ("T: text"); the simulation engine wraps its text in ClientAppException ("... occurred.
    Message: text"), under Ray inside a whole remote traceback."""
    if reply is None:
        return "no reply within Flower's timeout"
    reason = re.sub(r"\x1b\[[0-9;]*m", "", reply.error.reason or f"Flower error code {reply.error.code}")
    found = re.fullmatch(r"<class '(.+?)'>:<'(.*)'>", reason.strip(), re.S)
    if found:
        kind, text = found.group(1).rsplit(".", 1)[-1], found.group(2).strip()
        wrapped = text.rsplit(_WRAPPED, 1)
        reason = wrapped[1].strip().splitlines()[0] if len(wrapped) == 2 and wrapped[1].strip() else f"{kind}: {text}"
    return " ".join(reason.split())


_WRAPPED = "Exception ClientAppException occurred. Message:"  # flwr.clientapp.client_app.ClientAppException


def check_not_all_failed(step: str, devices: Collection[int], replies: dict[int, Message]) -> None:
    """Raise FederationFailed when every device in `devices` that replied sent an error (nothing to aggregate or score)."""
    failed = [d for d in devices if d not in replies or replies[d].has_error()]
    if not devices or len(failed) < len(devices) or not any(d in replies for d in devices):
        return  # (no reply at all is a fleet that sends none, as the coordinator tests' stand-ins: left as before)
    cause, count = Counter(client_cause(replies.get(d)) for d in sorted(failed)).most_common(1)[0]
    raise FederationFailed(f"{step}: the ClientApps of all {len(failed)} devices failed "
                           f"({count} reported: {cause})")


def _loss(metrics) -> float:
    return float(metrics["train-loss"]) if metrics and "train-loss" in metrics else float("nan")


def _decoded(reply: Message, base: list[np.ndarray], codec: str) -> Message:
    """A copy of the reply with its compressed update replaced by full weights, ready for a Flower strategy."""
    payload = reply.content["arrays"].to_numpy_ndarrays()
    # the reply as received stays untouched (audits read it); copying all but its arrays, which are replaced
    # anyway, costs a fraction of a deep copy of the whole message
    content = RecordDict({key: ArrayRecord(decode(payload, base, codec)) if key == "arrays" else copy.deepcopy(record)
                          for key, record in reply.content.items()})
    return Message(content=content, metadata=copy.deepcopy(reply.metadata))


def aggregate(strategy, server_round: int, replies: list[Message]):
    """The strategy's aggregate_train, or (None, None) (the model stays) when no update trained on anything:
    Flower's example-weighted strategies would divide by a total of zero examples."""
    if not replies or not any(int(r.content["metrics"]["num-examples"]) for r in replies):
        return None, None
    return strategy.aggregate_train(server_round, replies)


def pretrain(fleet: Fleet, n_devices: int, arrays: list[np.ndarray], fed, rng: np.random.Generator,
             model: str = "edge", excluded: Collection[int] = (), rounds: range | None = None,
             train_model: str | None = None, teacher: list[np.ndarray] | None = None
             ) -> tuple[list[np.ndarray], list[dict]]:
    """A model before simulated time 0: FedAvg rounds on each device's history. `model` is "edge" (the model
    devices ship with) or "cloud" (the larger model the servers serve); the TRAIN config names it (or
    `train_model`: "edge-dense", the edge model before pruning). Devices in `excluded` (they cannot hold its
    training in RAM) are never chosen. `rounds`: which of the pretraining rounds (default all); `teacher`: the
    weights of the cloud model the devices distill from (clients.forecast.train_local)."""
    settings = fed.pretrain
    strategy = make_strategy(fed.model_copy(update={"strategy": "fedavg", "dp_noise_multiplier": None}))
    rows = []
    first = 10_000 if model == "edge" else 20_000  # round numbers seed the clients' training: keep them apart
    # (drawing from range(n) itself when nothing is excluded keeps the draws of runs before the memory check)
    eligible = [d for d in range(n_devices) if d not in excluded] if excluded else n_devices
    count = len(eligible) if excluded else n_devices
    for server_round in (rounds if rounds is not None else range(1, settings.rounds + 1)):
        chosen = sorted(int(d) for d in rng.choice(eligible, size=min(settings.clients_per_round, count),
                                                  replace=False)) if count else []
        config = {"sim-hour": 0, "local-epochs": settings.local_epochs, "learning-rate": fed.learning_rate,
                  "train-span-hours": int(settings.span // 3600.0), "compression": "none", "fault-rate": 0.0,
                  "personalise": False, "train-model": train_model or model}
        if teacher is None:
            replies = fleet.train(strategy, first + server_round, chosen, ArrayRecord(arrays), config)
        else:
            config["distill-alpha"] = DISTILL_ALPHA
            replies = fleet.train(strategy, first + server_round, chosen, ArrayRecord(arrays), config,
                                  teacher=ArrayRecord(teacher))
        check_not_all_failed(f"pretraining round {server_round} of the {model} model", chosen, replies)
        good = [replies[d] for d in chosen if d in replies and not replies[d].has_error()]
        aggregated, metrics = aggregate(strategy, server_round, good)
        if aggregated is not None:
            arrays = aggregated.to_numpy_ndarrays()
        rows.append({"phase": "pretrain" if model == "edge" else "pretrain-cloud", "round": server_round,
                     "start_s": 0.0, "deadline_s": 0.0, "selected": len(chosen), "aggregated": len(good), "stragglers": 0,
                     "failed": len(chosen) - len(good), "model_version": 0, "upload_bytes": 0.0,
                     "train_loss": _loss(metrics)})
    return arrays, rows


def pretrain_models(fleet: Fleet, scenario, edge: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray] | None,
                                                                            list[dict]]:
    """The pretrained edge model and, when the scenario has one, the pretrained cloud model; their round rows."""
    fed, n = scenario.federation, scenario.device_count
    if scenario.models.edge.compression is not None:
        return _pretrain_compressed(fleet, scenario, edge)
    edge, rows = pretrain(fleet, n, edge, fed, stream(scenario.seed, "pretrain"),
                          excluded=memory.untrainable(scenario, scenario.models.edge.spec))
    if scenario.models.cloud is None:
        return edge, None, rows
    cloud_spec = scenario.models.cloud.spec
    initial = get_arrays(build_model(cloud_spec, scenario.seed))
    cloud, cloud_rows = pretrain(fleet, n, initial, fed, stream(scenario.seed, "pretrain-cloud"), model="cloud",
                                 excluded=memory.untrainable(scenario, cloud_spec, "the cloud model"))
    return edge, cloud, rows + cloud_rows


def _pretrain_compressed(fleet: Fleet, scenario, edge: list[np.ndarray]):
    """Compression applied in pretraining: the cloud model first when the edge model distills from it; the
    dense edge model for the first half of the rounds (at least one); then pruned on the server (weights only)
    and fine-tuned as deployed for the rest, distilling throughout when asked."""
    fed, n, spec = scenario.federation, scenario.device_count, scenario.models.edge.spec
    cloud, rows = None, []
    if scenario.models.cloud is not None:
        cloud_spec = scenario.models.cloud.spec
        cloud, rows = pretrain(fleet, n, get_arrays(build_model(cloud_spec, scenario.seed)), fed,
                               stream(scenario.seed, "pretrain-cloud"), model="cloud",
                               excluded=memory.untrainable(scenario, cloud_spec, "the cloud model"))
    teacher = cloud if spec.compression.distill_from == "cloud" else None
    total, rng = fed.pretrain.rounds, stream(scenario.seed, "pretrain")
    dense_rounds = max(1, total // 2) if spec.compression.prune else total
    edge, dense_rows = pretrain(fleet, n, edge, fed, rng, rounds=range(1, dense_rounds + 1), train_model="edge-dense",
                                teacher=teacher, excluded=memory.untrainable(scenario, spec.dense))
    edge = compress_for_deployment(edge, spec)
    edge, tuned_rows = pretrain(fleet, n, edge, fed, rng, rounds=range(dense_rounds + 1, total + 1), teacher=teacher,
                                excluded=memory.untrainable(scenario, spec.deployed))
    return edge, cloud, dense_rows + tuned_rows + rows


class Coordinator:
    """Starts rounds on the scenario's schedule and charges their time, energy and bytes in the world."""

    def __init__(self, world: World, fleet: Fleet, initial: list[np.ndarray],
                 pretrained: tuple[list[np.ndarray], list[np.ndarray] | None, list[dict]] | None = None):
        """`pretrained` (edge, cloud, round rows) skips pretraining: models a cache kept from the same settings."""
        self.world = world
        self.fleet = fleet
        self.settings = world.scenario.federation
        self.strategy = make_strategy(self.settings)
        self.rng = stream(world.scenario.seed, "federation")
        self.availability = make_availability(self.settings.availability, world.n_devices,
                                              stream(world.scenario.seed, "availability"))
        self.version = 0
        # None: the scenario's selection. Else a generator function of the candidates (server.selection) that
        # yields SimPy events until it returns (devices, updates to keep): sim.envs.selection's agent
        self.choose = None
        self.round_clients: list[dict] = []
        # flat FL with sites: new global models reach devices through their site's cache (server.model_cache)
        self.cache = SiteModelCache(world) if self.settings.edge_cache else None
        if pretrained is None:
            pretrained = pretrain_models(fleet, world.scenario, initial)
        initial, cloud, rows = pretrained
        # what pretraining gave, untouched by the run (a cache stores it)
        self.pretrained = ([a.copy() for a in initial], None if cloud is None else [a.copy() for a in cloud],
                           [dict(r) for r in rows])
        self.rounds = [dict(r) for r in rows]
        world.publish(0, [a.copy() for a in initial])
        if cloud is not None:
            world.publish_cloud([a.copy() for a in cloud])
        world.env.process(self._run())

    def _run(self):
        env, fed = self.world.env, self.settings
        yield env.timeout(fed.first_round_at)
        for server_round in range(1, fed.rounds + 1):
            if env.now >= self.world.duration_s:
                break
            yield from self._round(server_round)
            next_start = fed.first_round_at + server_round * fed.every
            if next_start > env.now:
                yield env.timeout(next_start - env.now)

    def _round(self, server_round: int):
        world, env, fed = self.world, self.world.env, self.settings
        start = env.now
        deadline = start + fed.round_deadline
        if self.choose is None:
            selected, keep = select(world, fed, self.rng, self.availability)
        else:
            selected, keep = yield from self.choose(candidates(world, self.availability))
        cached_before = (self.cache.wan_bytes, self.cache.wan_bytes_saved) if self.cache is not None else None
        config = {"sim-hour": int(start // 3600.0), "local-epochs": fed.local_epochs,
                  "learning-rate": fed.learning_rate, "train-span-hours": int(fed.train_span // 3600.0),
                  "compression": fed.compression, "topk-fraction": fed.topk_fraction, "fault-rate": fed.fault_rate,
                  "seed": world.scenario.seed, "personalise": fed.personalise, "train-model": "edge"}
        base = world.versions[self.version]
        replies, timeline, failed, upload_bytes = self._send_round(self.strategy, server_round, selected, base, config,
                                                                   start, deadline, self._replay_client)
        yield env.timeout(fed.round_deadline)
        # a device whose availability ends before its upload does (or the deadline) drops out: reason unavailable
        gone = {d for d in selected if self.availability.until(d, start) < min(deadline, timeline[d]["upload_end_s"])}
        # fastest-k keeps the first k updates that beat the deadline; the rest are stragglers
        arrived = sorted((timeline[d]["upload_end_s"], d) for d in selected
                         if timeline[d]["upload_end_s"] <= deadline and d not in gone)
        on_time = sorted(d for _, d in arrived[:keep])
        for dev in selected:
            row = timeline[dev]
            row["status"] = ("failed" if dev in failed else "aggregated" if dev in on_time
                             else "dropout" if not world.alive(dev) or dev in gone else "straggler")
            if fed.availability.kind != "always" and row["status"] == "dropout":
                row["reason"] = "battery" if not world.alive(dev) else "unavailable"
            self.round_clients.append(row)
        statuses = [timeline[d]["status"] for d in selected]
        decoded = [_decoded(replies[d], base, fed.compression) for d in on_time]
        arrays, metrics = aggregate(self.strategy, server_round, decoded)
        if arrays is not None:
            self.version += 1
            world.publish(self.version, arrays.to_numpy_ndarrays())
            self._broadcast(self.version)
        self.rounds.append({
            "phase": "deploy", "round": server_round, "start_s": start, "deadline_s": deadline,
            "selected": len(selected), "aggregated": len(on_time), "stragglers": statuses.count("straggler"),
            "failed": statuses.count("failed") + statuses.count("dropout"), "model_version": self.version,
            "train_loss": _loss(metrics), "upload_bytes": sum(upload_bytes.values()),
        })
        if cached_before is not None:  # what the site caches pulled over the WANs and what their hits saved
            self.rounds[-1].update(level="cloud", site=-1, end_s=env.now,
                                   wan_bytes=self.cache.wan_bytes - cached_before[0] + sum(upload_bytes.values()),
                                   wan_bytes_saved=self.cache.wan_bytes_saved - cached_before[1])

    def _send_round(self, strategy, server_round: int, selected: list[int], base: list, config: dict, start: float,
                    deadline: float, replay) -> tuple[dict, dict, set, dict]:
        """Train `selected` through Flower from `base`, then replay each reply's cost in simulated time with
        replay(dev, samples, upload bytes, timeline row): (replies, timeline rows, failed devices, upload bytes)."""
        world = self.world
        replies = self.fleet.train(strategy, server_round, selected, ArrayRecord(base), config) if selected else {}
        timeline = {d: {"round": server_round, "device": d, "profile": world.devices[d].profile.name,
                        "start_s": start, "download_end_s": math.nan, "train_start_s": math.nan,
                        "train_end_s": math.nan, "upload_end_s": math.nan, "deadline_s": deadline}
                    for d in selected}
        if not config["fault-rate"]:  # injected faults may fail a whole round; anything else is a broken fleet
            check_not_all_failed(f"round {server_round}", selected, replies)
        failed = {d for d in selected if d not in replies or replies[d].has_error()}
        upload_bytes = {}
        for dev in selected:
            if dev not in failed:
                metrics = replies[dev].content["metrics"]
                upload_bytes[dev] = float(metrics["update-bytes"])
                replay(dev, int(metrics["num-examples"]), upload_bytes[dev], timeline[dev])
        return replies, timeline, failed, upload_bytes

    def _replay_client(self, dev: int, samples: int, nbytes: float, row: dict) -> None:
        """Replay one client's round in simulated time (a process: _client_turn)."""
        self.world.env.process(self._client_turn(dev, samples, nbytes, row))

    def _client_turn(self, dev: int, samples: int, nbytes: float, row: dict):
        """Download the global model if the device lacks it, train, upload the update; note when each ends.
        A device that died or became unavailable before training or uploading drops out of the round."""
        world, env = self.world, self.world.env
        if world.fleet.model_version[dev] < self.version:
            downloaded = env.event()
            self._download(dev, self.version, downloaded.succeed)
            yield downloaded
            row["download_end_s"] = env.now
        if not self._present(dev):
            return
        row["train_start_s"], row["train_end_s"] = world.train(dev, samples, self.settings.local_epochs)
        yield env.timeout(row["train_end_s"] - env.now)
        if self.settings.personalise and world.alive(dev):  # its fine-tuned copy now serves its requests
            world.install_personal(dev, row["round"])
        if not self._present(dev):
            return
        uploaded = env.event()
        world.transfer(dev, nbytes, True, uploaded.succeed)
        yield uploaded
        row["upload_end_s"] = env.now

    def _present(self, dev: int) -> bool:
        return self.world.alive(dev) and self.availability.available(dev, self.world.env.now)

    def _broadcast(self, version: int) -> None:
        world = self.world

        def installed(dev: int):
            def done() -> None:
                world.fleet.model_version[dev] = max(world.fleet.model_version[dev], version)
            return done

        for dev in range(world.n_devices):
            if world.alive(dev):
                self._download(dev, version, installed(dev))

    def _download(self, dev: int, version: int, on_done) -> None:
        """The global model to a device: from the cloud, or from its site's cache when there is one."""
        if self.cache is None:
            self.world.transfer(dev, self.world.model_bytes, False, on_done)
        else:
            self.cache.deliver(dev, version, self.world.model_bytes, on_done)
