"""edgefed/Selection-v0 composed: server/'s round coordinator on the devices' Flower ClientApps, called in-process.

gymnasium.make("edgefed/Selection-v0", scenario=...) lands here (sim/envs/__init__.py names this entry point):
this is composition-root work, joining the engine's env with server/ and clients/, like sim/app/runner.py.

The ClientApps run in this process, one Flower Message per selected device, with no Simulation Engine: Ray's
cold start (6-8 s here) per episode, and a ServerApp thread that would have to hand the event loop back and
forth with the agent, buy nothing for an agent that waits for every round. The messages, the strategy
(configure_train, aggregate_train), the ClientApp's train function and the device's state (Context.state)
are Flower's and the same as in `edgefed run`; only the transport differs.
"""
from __future__ import annotations

import logging
from pathlib import Path

from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.supercore.task_identity import TaskIdentity

from clients.app import make_client_app
from clients.model import build_model, get_arrays
from server.coordinator import Coordinator
from sim import scenario as scenarios
from sim.app import pretrain_cache
from sim.app.runner import _score_on_devices
from sim.envs.selection import LAMBDA_ENERGY, SelectionEnv
from sim.forecasts import device_config
from sim.world import World


class _Nodes:
    """What a strategy's configure_train reads of a Grid: the node ids it may sample (fraction 1: all)."""

    def __init__(self, node_ids: list[int]):
        self._node_ids = node_ids

    def get_node_ids(self) -> list[int]:
        return list(self._node_ids)


class InProcessFleet:
    """server.coordinator's Fleet: each device's ClientApp (clients.app) called in this process with its own
    Context (partition id, state kept across rounds), node id = device + 1."""

    def __init__(self, scenario: scenarios.Scenario):
        try:  # what Flower's runtime sets in each process before messages are built
            TaskIdentity.run_id
        except RuntimeError:
            TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 0, 1
        self.app = make_client_app()
        self.device_config = device_config(scenario)
        n = scenario.device_count
        self.contexts = [Context(run_id=TaskIdentity.run_id, node_id=d + 1,
                                 node_config={"partition-id": d, "num-partitions": n}, state=RecordDict(),
                                 run_config={}) for d in range(n)]

    def train(self, strategy, server_round: int, devices: list[int], arrays: ArrayRecord, config: dict,
              teacher: ArrayRecord | None = None) -> dict[int, Message]:
        """As server.app.FlowerFleet.train: the strategy builds the content, each device gets its copy; a
        ClientApp that raises sends no reply (the coordinator counts it failed)."""
        built = list(strategy.configure_train(server_round, arrays, ConfigRecord({**self.device_config, **config}),
                                              _Nodes([d + 1 for d in devices])))
        if not built:
            return {}
        template = dict(built[0].content.items())
        if teacher is not None:
            template["teacher"] = teacher
        replies = {}
        for dev in devices:
            content = RecordDict(dict(template))
            content["config"] = ConfigRecord({**content["config"], "device": dev})
            message = Message(content, dst_node_id=dev + 1, message_type=MessageType.TRAIN)
            try:
                replies[dev] = self.app(message, self.contexts[dev])
            except Exception:  # noqa: BLE001  an injected fault (fault_rate) or a failing device
                continue
        return replies


def make_selection_env(scenario: str | Path | scenarios.Scenario, seed: int | None = None,
                       lambda_energy: float = LAMBDA_ENERGY, verbose: bool = False) -> SelectionEnv:
    """Selection-v0 on `scenario` (federation on): its coordinator, ClientApps and held-out scoring. Flower's
    strategies log two INFO lines a round: shown only when `verbose`."""
    if not verbose:
        logging.getLogger("flwr").setLevel(logging.WARNING)
    loaded = scenario if isinstance(scenario, scenarios.Scenario) else scenarios.load(scenario)
    pretrained: dict[str, tuple] = {}  # by pretraining key: the same for every episode of a seed

    def federation(world: World) -> Coordinator:
        """The episode's coordinator; its starting models from the disk cache `edgefed run` shares
        (sim.app.pretrain_cache: the same ClientApps and seeds train them), else pretrained here and stored."""
        scenario = world.scenario
        initial = get_arrays(build_model(scenario.models.edge.spec.dense, scenario.seed))
        key = pretrain_cache.pretrain_key(scenario) if scenario.federation.pretrain.rounds else None
        start = pretrained.get(key) if key else None
        if key and start is None:
            start = pretrain_cache.load(key)
        coordinator = Coordinator(world, InProcessFleet(scenario), initial, start)
        if key and key not in pretrained:
            if start is None:
                pretrain_cache.store(key, *coordinator.pretrained)
            pretrained[key] = coordinator.pretrained
        return coordinator

    return SelectionEnv(scenario, federation, _score_on_devices(loaded), seed=seed, lambda_energy=lambda_energy)
