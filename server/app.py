"""Flower ServerApps: their main hosts the SimPy world and drives rounds through the Grid."""
from __future__ import annotations

import os
import time
from typing import Any, Callable

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.serverapp import Grid, ServerApp

from clients.model import build_model, get_arrays
from server.coordinator import Coordinator, FederationFailed, check_not_all_failed, pretrain_models
from server.hierarchy import HierarchicalCoordinator
from server.asynchronous import AsyncCoordinator
from sim.forecasts import KEY_COLUMNS, Evaluator, Requests, Weights, device_config, score, score_versions
from sim.scenario import Scenario
from sim.world import World

# Flower's timeouts are wall-clock safety nets; simulated deadlines are decided in SimPy time.
WALL_TIMEOUT_S = 600.0

for _flag, _value in (("FLWR_TELEMETRY_ENABLED", "0"), ("FLWR_DISABLE_UPDATE_CHECK", "1"),
                      ("FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION", "1")):
    os.environ.setdefault(_flag, _value)


class _Selected:
    """A view of the Grid that offers a strategy only the nodes the coordinator selected."""

    def __init__(self, grid: Grid, node_ids: list[int]):
        self._grid, self._node_ids = grid, node_ids

    def get_node_ids(self) -> list[int]:
        return list(self._node_ids)

    def __getattr__(self, name: str):
        return getattr(self._grid, name)


class FlowerFleet:
    """Hosts devices on Flower nodes and exchanges messages with them.

    One QUERY round asks each node its partition id. Device d runs on the node of partition d mod n: one
    node per device by default; a smaller pool of nodes for city-scale fleets (Flower's in-memory
    LinkState scans every stored message for every node, so a round to n nodes costs O(n^2)). Every
    message names its device, and a node keeps each hosted device's state apart.
    """

    def __init__(self, grid: Grid, n_devices: int, device_config: dict, n_nodes: int | None = None):
        self.grid = grid
        self.device_config = device_config  # every message tells the device its deployment settings
        n_nodes = n_nodes or n_devices
        deadline = time.monotonic() + WALL_TIMEOUT_S
        while len(list(grid.get_node_ids())) < n_nodes:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(list(grid.get_node_ids()))} of {n_nodes} Flower nodes registered")
            time.sleep(0.05)
        query = [Message(RecordDict(), dst_node_id=nid, message_type=MessageType.QUERY)
                 for nid in sorted(grid.get_node_ids())]
        node_of_partition = {}
        for reply in grid.send_and_receive(query, timeout=WALL_TIMEOUT_S):
            node_of_partition[int(reply.content["metrics"]["partition-id"])] = reply.metadata.src_node_id
        self.node_of = [node_of_partition[d % n_nodes] for d in range(n_devices)]
        self.exchanged: list[Message] = []  # every message and reply, for audits

    def _exchange(self, kind: str, contents: dict[int, RecordDict]) -> dict[int, Message]:
        """Send each device its content; the replies keyed by device (they arrive in wall-clock order).

        A node gets at most one message per wave: Flower may run two messages for one node at once, and
        each would write back its own copy of the node's state, losing the other device's.
        """
        waves: list[list[int]] = []
        seen: dict[int, int] = {}
        for dev in sorted(contents):
            wave = seen.get(self.node_of[dev], 0)
            seen[self.node_of[dev]] = wave + 1
            waves.extend([] for _ in range(wave + 1 - len(waves)))
            waves[wave].append(dev)
        out = {}
        for devices in waves:
            messages = []
            for dev in devices:
                content = contents[dev]
                content["config"] = ConfigRecord({**content["config"], "device": dev})
                messages.append(Message(content, dst_node_id=self.node_of[dev], message_type=kind))
            replies = list(self.grid.send_and_receive(messages, timeout=WALL_TIMEOUT_S))  # sets the message ids
            device_of = {m.metadata.message_id: dev for dev, m in zip(devices, messages)}
            self.exchanged.extend(messages + replies)
            out.update({device_of[r.metadata.reply_to_message_id]: r for r in replies})
        return out

    def train(self, strategy, server_round: int, devices: list[int], arrays: ArrayRecord,
              config: dict, teacher: ArrayRecord | None = None) -> dict[int, Message]:
        """The strategy builds the TRAIN content (FedProx adds proximal-mu, FedOpt notes the global arrays)
        for the nodes of exactly the devices the coordinator selected; each device gets its own copy, with
        the `teacher` model's weights when it distills from one."""
        nodes = _Selected(self.grid, sorted({self.node_of[d] for d in devices}))
        built = list(strategy.configure_train(server_round, arrays, ConfigRecord({**self.device_config, **config}),
                                              nodes))
        if not built:
            return {}
        template = dict(built[0].content.items())  # the strategy sends every node the same content
        if teacher is not None:
            template["teacher"] = teacher
        return self._exchange(MessageType.TRAIN, {dev: RecordDict(dict(template)) for dev in devices})

    def evaluate(self, requests: Requests, weights: Weights) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Each device scores its own requests with the models they used (the shared ones travel with the
        message, its personal copies are in its own state); errors come back as metrics."""
        contents = {}
        for dev, cols in requests.items():
            used = {(int(m), int(v)) for m, v in zip(cols["model"], cols["version"])}
            records: dict[str, Any] = {f"arrays-m{m}-v{v}": ArrayRecord(weights[(m, v)])
                                       for m, v in sorted(used) if (m, v) in weights}
            records["config"] = ConfigRecord({**self.device_config,
                                              **{k: [int(x) for x in cols[k]] for k in KEY_COLUMNS}})
            contents[dev] = RecordDict(records)
        out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        replies = self._exchange(MessageType.EVALUATE, contents)
        check_not_all_failed("scoring forecasts on the devices", list(contents), replies)
        for dev, reply in replies.items():
            if reply.has_error():
                continue
            metrics = reply.content["metrics"]
            out[dev] = (np.asarray(metrics["errors"], float), np.asarray(metrics["baseline-errors"], float))
        return out


def make_server_app(scenario: Scenario, holder: dict, progress: Callable[[float], None] | None = None,
                    evaluate: Evaluator | None = None, pretrained: tuple | None = None) -> ServerApp:
    """A ServerApp whose main runs the whole scenario; the finished world lands in holder['world']."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        try:
            holder.update(run_world(scenario, grid, progress, evaluate, pretrained))
        except FederationFailed as exc:  # Flower's simulation engine would only log it: the caller raises it
            holder["failed"] = exc

    return app


def make_pretrain_app(scenario: Scenario, holder: dict) -> ServerApp:
    """A ServerApp that only trains the model devices ship with (for runs without deployed federation)."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        fleet = FlowerFleet(grid, scenario.device_count, device_config(scenario), scenario.flower_supernodes)
        try:
            holder["pretrained"] = pretrain_models(fleet, scenario, _untrained_edge(scenario))
        except FederationFailed as exc:
            holder["failed"] = exc

    return app


def _untrained_edge(scenario: Scenario) -> list[np.ndarray]:
    # before compression: pretraining prunes it (the same model when uncompressed)
    return get_arrays(build_model(scenario.models.edge.spec.dense, scenario.seed))


def run_world(scenario: Scenario, grid: Grid, progress: Callable[[float], None] | None = None,
              evaluate: Evaluator | None = None, pretrained: tuple | None = None) -> dict:
    """Build the world, federate it through the Grid, score the forecasts.

    Devices score through Flower EVALUATE messages unless the caller (the composition root, which may read
    the devices' data) hands in an in-process `evaluate`; personal copies are always scored on their device.
    """
    fleet = FlowerFleet(grid, scenario.device_count, device_config(scenario), scenario.flower_supernodes)
    world = World(scenario)
    # client -> edge site -> cloud (server.hierarchy), or asynchronous rounds (server.asynchronous: fedbuff, fedasync)
    if scenario.federation.hierarchy is not None:
        kind = HierarchicalCoordinator
    else:
        kind = Coordinator if scenario.federation.mode == "sync" else AsyncCoordinator
    coordinator = kind(world, fleet, _untrained_edge(scenario), pretrained)
    world.run(progress)
    if evaluate is None or scenario.federation.personalise:  # only the devices hold their personal copies
        evaluate = fleet.evaluate
    if world.spill is None:  # a streamed world's rows are scored group by group after the run (sim.app.stream)
        table = world.table()
        score(table, scenario.models.int8_on_device, evaluate, world.weights())
    versions = score_versions(evaluate, world.n_devices, world.weights(), int(scenario.duration // 3600),
                              world.fleet.personal_version if scenario.federation.personalise else None)
    return {"world": world, "rounds": coordinator.rounds, "round_clients": coordinator.round_clients,
            "versions": versions, "exchanged": fleet.exchanged, "pretrained": coordinator.pretrained}
