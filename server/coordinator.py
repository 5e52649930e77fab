"""The federated round coordinator: a SimPy process that replays what each Flower round costs."""
from __future__ import annotations

import math
from typing import Protocol

import numpy as np
from flwr.app import ArrayRecord, Message

from sim.world import World, stream


class Fleet(Protocol):
    """Reaches the devices' ClientApps (through a Flower Grid in practice)."""

    def train(self, server_round: int, devices: list[int], arrays: ArrayRecord, config: dict) -> dict[int, Message]: ...


def make_strategy(name: str):
    """A Flower strategy by scenario name; only its aggregation is used (selection happens here)."""
    from flwr.serverapp import strategy

    strategies = {"fedavg": strategy.FedAvg}
    return strategies[name](fraction_train=1.0, min_train_nodes=1, min_available_nodes=1)


def pretrain(fleet: Fleet, n_devices: int, arrays: list[np.ndarray], settings, rng: np.random.Generator,
             learning_rate: float) -> tuple[list[np.ndarray], list[dict]]:
    """The model devices ship with: FedAvg rounds on each device's history before simulated time 0."""
    strategy = make_strategy("fedavg")
    rows = []
    for server_round in range(1, settings.rounds + 1):
        chosen = sorted(int(d) for d in rng.choice(n_devices, size=min(settings.clients_per_round, n_devices),
                                                  replace=False))
        config = {"sim-hour": 0, "local-epochs": settings.local_epochs, "learning-rate": learning_rate,
                  "train-span-hours": int(settings.span // 3600.0), "server-round": 10_000 + server_round}
        replies = fleet.train(10_000 + server_round, chosen, ArrayRecord(arrays), config)
        good = [replies[d] for d in chosen if d in replies and not replies[d].has_error()]
        aggregated, metrics = strategy.aggregate_train(server_round, good)
        if aggregated is not None:
            arrays = aggregated.to_numpy_ndarrays()
        rows.append({"phase": "pretrain", "round": server_round, "start_s": 0.0, "deadline_s": 0.0, "selected": len(chosen),
                     "aggregated": len(good), "stragglers": 0, "failed": len(chosen) - len(good),
                     "model_version": 0, "upload_bytes": 0.0,
                     "train_loss": float(metrics["train-loss"]) if metrics and "train-loss" in metrics else float("nan")})
    return arrays, rows


class Coordinator:
    """Starts rounds on the scenario's schedule and charges their time, energy and bytes in the world."""

    def __init__(self, world: World, fleet: Fleet, initial: list[np.ndarray]):
        self.world = world
        self.fleet = fleet
        self.settings = world.scenario.federation
        self.strategy = make_strategy(self.settings.strategy)
        self.rng = stream(world.scenario.seed, "federation")
        self.version = 0
        self.round_clients: list[dict] = []
        initial, self.rounds = pretrain(fleet, world.n_devices, initial, self.settings.pretrain,
                                        stream(world.scenario.seed, "pretrain"), self.settings.learning_rate)
        world.publish(0, initial)
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

    def _select(self) -> list[int]:
        alive = [d for d in range(self.world.n_devices) if self.world.alive(d)]
        k = min(self.settings.clients_per_round, len(alive))
        return sorted(int(d) for d in self.rng.choice(alive, size=k, replace=False)) if k else []

    def _round(self, server_round: int):
        world, env, fed = self.world, self.world.env, self.settings
        start = env.now
        deadline = start + fed.round_deadline
        selected = self._select()
        config = {"sim-hour": int(start // 3600.0), "local-epochs": fed.local_epochs,
                  "learning-rate": fed.learning_rate, "train-span-hours": int(fed.train_span // 3600.0),
                  "server-round": server_round}
        global_arrays = ArrayRecord(world.versions[self.version])
        replies = self.fleet.train(server_round, selected, global_arrays, config) if selected else {}
        timeline = {d: {"round": server_round, "device": d, "profile": world.devices[d].profile.name,
                        "start_s": start, "download_end_s": float("nan"), "train_start_s": float("nan"),
                        "train_end_s": float("nan"), "upload_end_s": float("nan"), "deadline_s": deadline}
                    for d in selected}
        failed = [d for d in selected if d not in replies or replies[d].has_error()]
        for dev in selected:
            if dev not in failed:
                self._replay_client(dev, int(replies[dev].content["metrics"]["num-examples"]), timeline[dev])
        yield env.timeout(fed.round_deadline)
        on_time = [d for d in selected if timeline[d]["upload_end_s"] <= deadline]
        for dev in selected:
            row = timeline[dev]
            row["status"] = ("failed" if dev in failed else "aggregated" if dev in on_time
                             else "dropout" if not world.alive(dev) else "straggler")
            self.round_clients.append(row)
        stragglers = [d for d in selected if timeline[d]["status"] == "straggler"]
        dropouts = [d for d in selected if timeline[d]["status"] == "dropout"]
        arrays, metrics = self.strategy.aggregate_train(server_round, [replies[d] for d in on_time])
        if arrays is not None:
            self.version += 1
            world.publish(self.version, arrays.to_numpy_ndarrays())
            self._broadcast(self.version)
        self.rounds.append({
            "phase": "deploy", "round": server_round, "start_s": start, "deadline_s": deadline,
            "selected": len(selected), "aggregated": len(on_time), "stragglers": len(stragglers),
            "failed": len(failed) + len(dropouts), "model_version": self.version,
            "train_loss": float(metrics["train-loss"]) if metrics and "train-loss" in metrics else float("nan"),
            "upload_bytes": world.update_bytes * sum(not math.isnan(timeline[d]["upload_end_s"]) for d in selected),
        })

    def _replay_client(self, dev: int, samples: int, row: dict) -> None:
        """Download the global model if the device lacks it, train, upload the update; note when each ends."""
        world, env = self.world, self.world.env
        epochs = self.settings.local_epochs

        def uploaded() -> None:
            row["upload_end_s"] = env.now

        def upload() -> None:
            if world.alive(dev):  # a device that died while training drops out of the round
                world.transfer(dev, world.update_bytes, True, uploaded)

        def train() -> None:
            if world.alive(dev):
                row["train_start_s"], row["train_end_s"] = world.train(dev, samples, epochs)
                env.timeout(row["train_end_s"] - env.now).callbacks.append(lambda _: upload())

        def downloaded() -> None:
            row["download_end_s"] = env.now
            train()

        if world.device_version[dev] < self.version:
            world.transfer(dev, world.model_bytes, False, downloaded)
        else:
            train()

    def _broadcast(self, version: int) -> None:
        world = self.world

        def installed(dev: int):
            def done() -> None:
                world.device_version[dev] = max(world.device_version[dev], version)
            return done

        for dev in range(world.n_devices):
            if world.alive(dev):
                world.transfer(dev, world.model_bytes, False, installed(dev))
