"""Hierarchical FL (client -> edge site -> cloud): HierFAVG (Liu et al., ICC 2020) as a SimPy process.

Every edge round each site selects among its own devices, sends them its own model and aggregates their
updates with its own Flower strategy instance (its own server state); updates cross the access cell only.
Every k edge rounds the sites upload their models over their WAN links, the cloud aggregates them weighted by
the examples each site aggregated since the last cloud round (with the scenario's strategy: FedAvg gives
HierFAVG's weighted mean), and pushes the new global model to every site's cache (server.model_cache), from
which the site's devices download it over their cell. One site with k = 1 is flat FedAvg, model for model.
"""
from __future__ import annotations

import math

import numpy as np
from flwr.app import ArrayRecord, Message, MessageType, MetricRecord, RecordDict

from server.coordinator import Coordinator, _decoded, _loss, aggregate
from server.model_cache import SiteModelCache
from server.strategies import make_strategy
from sim import memory


def site_reply(site: int, arrays: list[np.ndarray], samples: int) -> Message:
    """A site's model as the cloud's strategy reads a client's reply: arrays weighted by num-examples."""
    request = Message(RecordDict(), dst_node_id=site + 1, message_type=MessageType.TRAIN)
    return Message(RecordDict({"arrays": ArrayRecord(arrays), "metrics": MetricRecord({"num-examples": samples})}),
                   reply_to=request)


def cloud_aggregate(strategy, server_round: int, models: dict[int, tuple[list[np.ndarray], int]]) -> list[np.ndarray]:
    """The cloud's model from {site: (arrays, examples)}, sites in order (replies must not depend on timing)."""
    replies = [site_reply(s, arrays, samples) for s, (arrays, samples) in sorted(models.items())]
    aggregated, _ = strategy.aggregate_train(server_round, replies)
    return aggregated.to_numpy_ndarrays()


class HierarchicalCoordinator(Coordinator):
    """Edge rounds at every site, a cloud round every `edge_rounds_per_cloud` of them."""

    def __init__(self, world, fleet, initial, pretrained=None):
        super().__init__(world, fleet, initial, pretrained)  # pretraining, version 0, the cloud's strategy
        fed, topology = self.settings, world.topology
        self.k = fed.hierarchy.edge_rounds_per_cloud
        n_sites = len(topology.sites)
        self.members = [[d for d in range(world.n_devices) if topology.home_site[d] == s] for s in range(n_sites)]
        self.site_strategies = [make_strategy(fed) for _ in range(n_sites)]
        self.site_arrays = [[a.copy() for a in world.versions[0]] for _ in range(n_sites)]
        self.site_samples = [0] * n_sites  # examples aggregated at each site since the last cloud round
        # which site model each device holds: ids are unique over sites and time; devices ship with version 0
        self._next_id = 1
        self.site_model = [0] * n_sites
        self.device_model = [0] * world.n_devices
        self.cache = SiteModelCache(world)
        self.cache.held = [0] * n_sites  # the sites hold the model the devices shipped with

    def _run(self):
        env, fed = self.world.env, self.settings
        yield env.timeout(fed.first_round_at)
        for edge_round in range(1, fed.rounds + 1):
            if env.now >= self.world.duration_s:
                break
            yield from self._edge_round(edge_round)
            if edge_round % self.k == 0:
                yield from self._cloud_round(edge_round // self.k)
            next_start = fed.first_round_at + edge_round * fed.every
            if next_start > env.now:
                yield env.timeout(next_start - env.now)

    # --- edge level ----------------------------------------------------------------------------
    def _select(self, site: int) -> list[int]:
        """Random selection among the site's live devices that can train (sim.selection's draw, per site)."""
        world, fed = self.world, self.settings
        cannot_train = memory.untrainable(world.scenario, world.scenario.models.edge.spec.deployed)
        alive = [d for d in self.members[site] if world.alive(d) and d not in cannot_train]
        take = min(len(alive), fed.clients_per_round)
        chosen = self.rng.choice(alive, size=take, replace=False) if take else []
        return sorted(int(d) for d in chosen)

    def _edge_round(self, edge_round: int):
        world, env, fed = self.world, self.world.env, self.settings
        start = env.now
        deadline = start + fed.round_deadline
        config = {"sim-hour": int(start // 3600.0), "local-epochs": fed.local_epochs,
                  "learning-rate": fed.learning_rate, "train-span-hours": int(fed.train_span // 3600.0),
                  "compression": fed.compression, "topk-fraction": fed.topk_fraction, "fault-rate": fed.fault_rate,
                  "seed": world.scenario.seed, "personalise": fed.personalise, "train-model": "edge"}
        rounds = []
        for site, strategy in enumerate(self.site_strategies):
            selected = self._select(site)
            base = self.site_arrays[site]
            replies, timeline, failed, upload_bytes = self._send_round(
                strategy, edge_round, selected, base, config, start, deadline,
                lambda dev, samples, nbytes, row, site=site: self._replay_at_site(dev, site, samples, nbytes, row))
            rounds.append((site, strategy, selected, base, replies, timeline, failed, upload_bytes))
        yield env.timeout(fed.round_deadline)
        for site, strategy, selected, base, replies, timeline, failed, upload_bytes in rounds:
            on_time = sorted(d for d in selected if timeline[d]["upload_end_s"] <= deadline)[:fed.clients_per_round]
            for dev in selected:
                row = timeline[dev]
                row["status"] = ("failed" if dev in failed else "aggregated" if dev in on_time
                                 else "dropout" if not world.alive(dev) else "straggler")
                self.round_clients.append(row)
            statuses = [timeline[d]["status"] for d in selected]
            decoded = [_decoded(replies[d], base, fed.compression) for d in on_time]
            arrays, metrics = aggregate(strategy, edge_round, decoded)
            if arrays is not None:
                self.site_arrays[site] = arrays.to_numpy_ndarrays()
                self.site_model[site] = self._new_model_id()
                self.site_samples[site] += sum(int(replies[d].content["metrics"]["num-examples"]) for d in on_time)
            self.rounds.append({
                "phase": "deploy", "round": edge_round, "level": "edge", "site": site, "start_s": start,
                "deadline_s": deadline, "end_s": deadline, "selected": len(selected), "aggregated": len(on_time),
                "stragglers": statuses.count("straggler"), "failed": statuses.count("failed") + statuses.count("dropout"),
                "model_version": self.version, "train_loss": _loss(metrics), "upload_bytes": sum(upload_bytes.values()),
                "wan_bytes": 0.0, "wan_bytes_saved": 0.0})

    def _new_model_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _replay_at_site(self, dev: int, site: int, samples: int, nbytes: float, row: dict) -> None:
        """Download the site's model over the cell if the device lacks it, train, upload over the cell."""
        world, env = self.world, self.world.env
        wanted = self.site_model[site]

        def uploaded() -> None:
            row["upload_end_s"] = env.now

        def trained() -> None:
            if self.settings.personalise and world.alive(dev):  # its fine-tuned copy now serves its requests
                world.install_personal(dev, row["round"])
            if world.alive(dev):  # a device that died while training drops out of the round
                world.transfer(dev, nbytes, True, uploaded, wan=False)

        def train() -> None:
            if world.alive(dev):
                row["train_start_s"], row["train_end_s"] = world.train(dev, samples, self.settings.local_epochs)
                env.timeout(row["train_end_s"] - env.now).callbacks.append(lambda _: trained())

        def downloaded() -> None:
            row["download_end_s"] = env.now
            self.device_model[dev] = wanted
            train()

        if self.device_model[dev] != wanted:
            world.transfer(dev, world.model_bytes, False, downloaded, wan=False)
        else:
            train()

    # --- cloud level ---------------------------------------------------------------------------
    def _cloud_round(self, cloud_round: int):
        """Sites upload over their WAN, the cloud aggregates, pushes to every site's cache, devices download."""
        world, env = self.world, self.world.env
        start = env.now
        sending = [s for s, samples in enumerate(self.site_samples) if samples > 0]  # nothing new: nothing to send
        if not sending:
            return
        uploads = []
        for site in sending:
            arrived = env.event()
            world.topology.sites[site].wan_up.send(world.update_bytes, lambda _, e=arrived: e.succeed(), 0)
            uploads.append(arrived)
        yield env.all_of(uploads)
        models = {s: (self.site_arrays[s], self.site_samples[s]) for s in sending}
        arrays = cloud_aggregate(self.strategy, cloud_round, models)
        self.version += 1
        version = self.version
        world.publish(version, arrays)
        self.site_samples = [0] * len(self.site_samples)
        wan_before, saved_before = self.cache.wan_bytes, self.cache.wan_bytes_saved
        pushes = []
        for site in range(len(self.site_arrays)):
            pushed = env.event()
            self.cache.push(site, version, world.model_bytes, self._installer(site, version, arrays, pushed))
            pushes.append(pushed)
        yield env.all_of(pushes)
        upload_bytes = len(sending) * world.update_bytes
        self.rounds.append({
            "phase": "deploy", "round": cloud_round, "level": "cloud", "site": -1, "start_s": start,
            "deadline_s": start, "end_s": env.now, "selected": len(sending), "aggregated": len(sending),
            "stragglers": 0, "failed": 0, "model_version": version, "train_loss": math.nan,
            "upload_bytes": upload_bytes, "wan_bytes": upload_bytes + self.cache.wan_bytes - wan_before,
            "wan_bytes_saved": self.cache.wan_bytes_saved - saved_before})

    def _installer(self, site: int, version: int, arrays: list[np.ndarray], pushed):
        """When the global model reaches the site: it trains from it, and its live devices download it."""
        world = self.world

        def installed(dev: int):
            def done() -> None:
                world.fleet.model_version[dev] = max(world.fleet.model_version[dev], version)
                self.device_model[dev] = max(self.device_model[dev], model_id)
            return done

        model_id = self._new_model_id()

        def arrived() -> None:
            self.site_arrays[site] = [a.copy() for a in arrays]
            self.site_model[site] = model_id
            for dev in self.members[site]:
                if world.alive(dev):
                    self.cache.deliver(dev, version, world.model_bytes, installed(dev))
            pushed.succeed()

        return arrived
