"""Asynchronous federation in simulated time: FedBuff (Nguyen et al. 2022) and FedAsync (Xie et al. 2019).

`concurrency` devices train at once, each from the newest model when it starts. An upload joins the buffer
with its staleness (server versions published since its model); when `buffer_size` have arrived the server
steps: x <- x + server_step * sum_i n_i s(tau_i) (x_i - r_i) / sum_i n_i, where r_i is the model the client
started from (FedBuff) or the current model (FedAsync: x <- (1 - alpha s) x + alpha s x_i). The freed slot is
filled at the end of the same simulated instant, after the step, so the next client starts from the newest model.

Flower's FedAvg computes the example-weighted mean of the staleness-scaled deltas; the server step is ours:
FedAvg normalises by sum_i n_i of the weights it is given, so handing it s(tau_i) as part of the weight would
cancel the staleness of a lone (FedAsync) or uniformly stale buffer, and it has no notion of a delta or of the
model each client started from.

Within one simulated instant, arrivals come before dispatch: slots freed at time t are refilled after every
update arriving at t has joined the buffer and the buffer has stepped (EndOfInstant). So with buffer_size =
concurrency and clients that all take the same time, FedBuff's versions are sync FedAvg's
(tests/server/test_fedbuff_equivalence.py).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
from flwr.app import ArrayRecord, Message

from server.coordinator import Coordinator, _decoded, _loss
from sim import memory
from sim.calendar import EndOfInstant

RETRY_S = 60.0  # with no device available to fill a slot, look again this often


def staleness_weight(settings, staleness: int) -> float:
    """Xie et al. 2019: constant 1; polynomial (1+s)^-a; hinge 1 if s <= b else 1/(a(s-b)+1)."""
    if settings.kind == "constant":
        return 1.0
    a = settings.param("a")
    if settings.kind == "polynomial":
        return float((1.0 + staleness) ** -a)
    b = settings.param("b")
    return 1.0 if staleness <= b else 1.0 / (a * (staleness - b) + 1.0)


@dataclass
class Update:
    """An upload waiting in the buffer."""

    device: int
    version: int  # the server version the client trained from
    arrays: list[np.ndarray]
    reply: Message
    examples: int


def buffered_step(current: list[np.ndarray], updates: list[Update], references: list[list[np.ndarray]],
                  weights: list[float], step: float, strategy) -> tuple[list[np.ndarray], object]:
    """current + step * the example-weighted mean (Flower's FedAvg) of weight_i * (arrays_i - reference_i)."""
    scaled = []
    for update, reference, weight in zip(updates, references, weights):
        message = copy.deepcopy(update.reply)  # the reply as received stays untouched (audits read it)
        delta = [(np.float32(weight) * (x - r)).astype(x.dtype) for x, r in zip(update.arrays, reference)]
        message.content["arrays"] = ArrayRecord(delta)
        scaled.append(message)
    mean, metrics = strategy.aggregate_train(0, scaled)
    return [(c + np.float32(step) * d).astype(c.dtype) for c, d in zip(current, mean.to_numpy_ndarrays())], metrics


class AsyncCoordinator(Coordinator):
    """Keeps `concurrency` devices training and steps the global model whenever `buffer_size` updates arrived."""

    def _run(self):
        world, env, fed = self.world, self.world.env, self.settings
        self.buffer_size = 1 if fed.mode == "fedasync" else fed.buffer_size
        self.concurrency = fed.concurrency or fed.clients_per_round
        self.buffer: list[Update] = []
        self.training: set[int] = set()
        self.dispatched = 0
        self.since = self._counts()
        self.last_step_s = fed.first_round_at
        yield env.timeout(fed.first_round_at)
        while self.version < fed.rounds and env.now < world.duration_s:
            self._fill_slots()
            self.freed = env.event()
            yield self.freed | env.timeout(RETRY_S)
            # updates that arrive in the same instant all join the buffer (and its step) before any freed slot
            # is refilled: a refill at that instant starts from the newest model
            yield EndOfInstant(env)

    def _counts(self) -> dict:
        return {"selected": 0, "stragglers": 0, "failed": 0}

    def _fill_slots(self) -> None:
        world, now = self.world, self.world.env.now
        free = self.concurrency - len(self.training)
        if free <= 0:
            return
        cannot_train = memory.untrainable(world.scenario, world.scenario.models.edge.spec.deployed)
        idle = [d for d in range(world.n_devices) if d not in self.training and world.alive(d)
                and d not in cannot_train and self.availability.available(d, now)]
        chosen = self.rng.choice(idle, size=min(free, len(idle)), replace=False) if idle else []
        for dev in sorted(int(d) for d in chosen):
            self.training.add(dev)
            world.env.process(self._client(dev))

    def _free(self, dev: int) -> None:
        self.training.discard(dev)
        if not self.freed.triggered:
            self.freed.succeed()

    def _client(self, dev: int):
        """One device's turn: take the newest model, download it if needed, train, upload, join the buffer."""
        world, env, fed = self.world, self.world.env, self.settings
        self.dispatched += 1
        call, version, start = self.dispatched, self.version, env.now
        self.since["selected"] += 1
        deadline = start + fed.round_deadline  # the client's timeout: no update is awaited longer
        row = {"round": call, "device": dev, "profile": world.devices[dev].profile.name, "start_s": start,
               "download_end_s": math.nan, "train_start_s": math.nan, "train_end_s": math.nan,
               "upload_end_s": math.nan, "deadline_s": deadline, "base_version": version, "staleness": math.nan}
        self.round_clients.append(row)
        base = world.versions[version]
        config = {"sim-hour": int(start // 3600.0), "local-epochs": fed.local_epochs,
                  "learning-rate": fed.learning_rate, "train-span-hours": int(fed.train_span // 3600.0),
                  "compression": fed.compression, "topk-fraction": fed.topk_fraction, "fault-rate": fed.fault_rate,
                  "seed": world.scenario.seed, "personalise": False, "train-model": "edge"}
        reply = self.fleet.train(self.strategy, call, [dev], ArrayRecord(base), config).get(dev)
        if reply is None or reply.has_error():
            row["status"] = "failed"
            self.since["failed"] += 1
            self.training.discard(dev)  # its slot is filled at the next look, not at once: a failing call repeats
            return
        metrics = reply.content["metrics"]
        leaves = min(deadline, self.availability.until(dev, start))

        def present() -> bool:
            return world.alive(dev) and self.availability.available(dev, env.now) and env.now <= deadline

        done = True
        if world.fleet.model_version[dev] < version:
            done = yield from self._transfer(dev, world.model_bytes, False, leaves)
            row["download_end_s"] = env.now if done else math.nan
        if done and present():
            row["train_start_s"], row["train_end_s"] = world.train(dev, int(metrics["num-examples"]), fed.local_epochs)
            yield env.timeout(row["train_end_s"] - env.now)
            if present():
                uploaded = yield from self._transfer(dev, float(metrics["update-bytes"]), True, leaves)
                if uploaded:
                    row["upload_end_s"] = env.now
        if math.isnan(row["upload_end_s"]):
            gone = not world.alive(dev) or self.availability.until(dev, start) < deadline
            row["status"] = "dropout" if gone else "straggler"
            if gone:
                row["reason"] = "battery" if not world.alive(dev) else "unavailable"
            self.since["stragglers" if not gone else "failed"] += 1
            self._free(dev)
            return
        if self.version >= fed.rounds:  # the run's aggregations are done: nothing more is averaged
            row["status"] = "straggler"
            self._free(dev)
            return
        row["status"], row["staleness"] = "aggregated", self.version - version
        row["into_version"] = self.version + 1  # the buffer empties at every step: this update is in the next
        self.buffer.append(Update(dev, version, _decoded(reply, base, fed.compression).content["arrays"]
                                  .to_numpy_ndarrays(), reply, int(metrics["num-examples"])))
        if len(self.buffer) >= self.buffer_size:
            self._step()
        self._free(dev)  # refilled at the end of this instant, after any step: it starts from the newest model

    def _transfer(self, dev: int, nbytes: float, uplink: bool, give_up_s: float):
        """Carry bytes over the device's links; False if it is not done by `give_up_s` (the device left)."""
        env = self.world.env
        done = env.event()
        self.world.transfer(dev, nbytes, uplink, lambda: done.succeed())
        if give_up_s <= env.now:
            return False
        yield done | env.timeout(give_up_s - env.now)
        return done.triggered and env.now <= give_up_s

    def _step(self) -> None:
        world, fed, env = self.world, self.settings, self.world.env
        updates, self.buffer = self.buffer, []
        current = world.versions[self.version]
        staleness = [self.version - u.version for u in updates]
        weights = [staleness_weight(fed.staleness, s) for s in staleness]
        references = [world.versions[u.version] if fed.mode == "fedbuff" else current for u in updates]
        arrays, metrics = buffered_step(current, updates, references, weights, fed.server_step, self.strategy)
        self.version += 1
        world.publish(self.version, arrays)
        self._broadcast(self.version)
        self.rounds.append({
            "phase": "deploy", "round": self.version, "start_s": self.last_step_s, "deadline_s": env.now,
            "selected": self.since["selected"], "aggregated": len(updates), "stragglers": self.since["stragglers"],
            "failed": self.since["failed"], "model_version": self.version, "train_loss": _loss(metrics),
            "upload_bytes": sum(float(u.reply.content["metrics"]["update-bytes"]) for u in updates),
            "staleness_mean": float(np.mean(staleness)), "staleness_max": int(max(staleness)),
            "staleness_weight_mean": float(np.mean(weights)),
        })
        self.since, self.last_step_s = self._counts(), env.now
