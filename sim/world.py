"""The SimPy world: the fleet, the topology (sites, cells, links, the cloud), the policy, the recorder; run."""
from __future__ import annotations

import zlib
from typing import Callable

import numpy as np
import simpy

from clients.spec import CLOUD_MODEL, EDGE_MODEL, ModelSpec, model_cost
from sim import dvfs, transfers, workload
from sim.calendar import Calendar
from sim.energy import FleetEnergy
from sim.estimates import EstimateRefresh, refreshing
from sim.fleet import Device, Fleet  # noqa: F401  (Device: sim.world.Device, as before)
from sim.mobility import InterruptibleRadio, Mobility
from sim.outages import Outages
from sim.network import SharedLink
from sim.policies import CLOUD, EDGE, LOCAL, Policy, make_policy
from sim.spill import open_spill
from sim.recorder import COLUMNS, MOBILITY_COLUMNS, Recorder
from sim.serving import Serving
from sim.topology import CLOUD_SITE, Topology
from sim.scenario import Scenario, read_trace

# Request framing on top of the model's input/output tensors (assumed: TCP/IP + a small RPC header).
REQUEST_OVERHEAD_BYTES = 200.0
# the columns of World.table() and requests.parquet, in this order
REQUEST_COLUMNS = ("arrival_s", "device", "target", "model", "model_version", "latency_s", "queue_s", "transfer_s",
                   "compute_s", "propagation_s", "energy_compute_j", "energy_radio_j", "bytes_up", "dropped",
                   "forecast_error", "baseline_error", "hour", "deadline_s", "site", "cell", "forwarded", "retried",
                   "cloud")
# those World.table() derives from device, target, site and arrival time after the run, DERIVE_ROWS rows at a time
DERIVED_COLUMNS = {"compute_s": np.float32, "propagation_s": np.float32, "bytes_up": np.float32, "hour": np.int32,
                   "deadline_s": np.float32, "site": np.int16, "cell": np.int16, "forwarded": np.int16,
                   "cloud": np.int16}
DERIVE_ROWS = 1 << 20


def stream(seed: int, name: str) -> np.random.Generator:
    """A named random stream: adding a component never shifts another component's draws."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


class World:
    """One simulation: build it from a scenario, optionally attach a federation process, run it."""

    def __init__(self, scenario: Scenario, recorder_capacity: int | None = None, policy: Policy | None = None):
        self.scenario = scenario
        self.env = env = simpy.Environment()
        self.calendar = calendar = Calendar(env)  # the request path's events
        seed = scenario.seed
        self.duration_s = scenario.duration
        cost, server_cost = self._size_models(scenario.models)

        self.fleet = fleet = Fleet(scenario, cost.flops_per_inference)
        self.devices = fleet.devices
        mobile = any(group.mobility is not None for group in scenario.fleet)
        radio = InterruptibleRadio if mobile else FleetEnergy  # handovers delay transfers (sim.mobility)
        self.energy = radio([d.profile for d in self.devices], [d.link for d in self.devices], fleet.battery_j,
                            fleet.harvest, fleet.revive_soc, fleet.cpu_scale)
        self.dvfs = dvfs.setup(self)  # accelerators' power; governed devices' first steps (None: no governor)
        self.topology = Topology(scenario, calendar, fleet, server_cost.flops_per_inference,
                                 (self.up_bytes * 8.0, self.down_bytes * 8.0))
        # moving devices are placed in their first cell now, before anything reads their routes
        self.mobility = Mobility(self, stream(seed, "mobility")) if mobile else None
        self.outages = Outages(self, stream) if scenario.outages else None  # before Serving, which reads it
        # stale estimates re-measured (sim.estimates): on with outages or bandwidth traces, unless told
        self.estimates = EstimateRefresh(self) if refreshing(scenario) else None
        self.wan_rtt_s = scenario.cloud.wan_rtt

        # model versions: the servers hold the newest global model, each device the newest it downloaded
        self.global_version = 0
        self.versions: dict[int, list[np.ndarray]] = {}
        self.cloud_arrays: list[np.ndarray] | None = None  # the cloud model's weights (one version per run)

        # `policy` replaces the scenario's (sim.envs hands in the agent's)
        self.policy = policy if policy is not None else make_policy(scenario.policy.name, scenario.policy.params,
                                                                    stream(seed, "policy"))
        if hasattr(self.policy, "bind"):  # reference policies (the oracle) may read the true world state
            self.policy.bind(self)
        self.policy = dvfs.wrap_policy(self.dvfs, self.policy)  # itself, unless it sets DVFS steps per request
        arrivals = workload.arrival_chunks(stream(seed, "workload"), fleet.workload_kind, fleet.request_rate,
                                           self.duration_s, bursty=fleet.bursts)
        expected = int(fleet.request_rate.sum() * self.duration_s * 1.05) + 16
        self.recorder = Recorder(recorder_capacity or expected, COLUMNS | MOBILITY_COLUMNS if mobile else COLUMNS)
        self.energy.recorder = self.recorder  # requests' radio joules, tails included, go to their rows
        # big runs stream their rows to disk as they become final (sim.spill; output.stream)
        self.spill = open_spill(self, expected)
        self.serving = Serving(self, arrivals)
        self.link_samples: list[dict] = []
        self.battery_samples: list[dict] = []
        self._table: dict[str, np.ndarray] | None = None
        self._start()

    def _size_models(self, models) -> tuple:
        """What the models cost: the edge model's bytes and FLOPs, which model the servers serve, a request's sizes."""
        self.spec = ModelSpec(**models.edge.model_dump())
        cost = model_cost(self.spec)
        self.model_bytes = float(cost.bytes_int8 if models.int8_on_device else cost.bytes_fp32)
        self.update_bytes = float(cost.bytes_fp32)
        self.flops_per_train_sample = cost.flops_per_train_sample
        # the edge server and the cloud serve the larger cloud model when there is one: its FLOPs set their
        # compute time and its input window sets what an offloaded request carries
        self.server_model = CLOUD_MODEL if models.cloud is not None else EDGE_MODEL
        server_cost = model_cost(ModelSpec(**models.cloud.model_dump())) if models.cloud is not None else cost
        self.up_bytes = server_cost.input_bytes + REQUEST_OVERHEAD_BYTES
        self.down_bytes = server_cost.output_bytes + REQUEST_OVERHEAD_BYTES
        return cost, server_cost

    def _start(self) -> None:
        """Start what runs on its own, in this order: arrivals, governors, movement, outages, estimate probes,
        bandwidth traces, the samplers."""
        scenario, env = self.scenario, self.env
        self.serving.start()
        if self.dvfs is not None:
            self.dvfs.start(self.serving)
        if self.mobility is not None:
            self.mobility.start()
        if self.outages is not None:
            self.outages.start()
        if self.estimates is not None:
            self.estimates.start()
        for g, group in enumerate(scenario.fleet):
            if group.bandwidth_trace is not None:
                env.process(self._follow_trace(g, read_trace(group.bandwidth_trace)))
        output = scenario.output
        self._sample_every = output.sample_every or max(1.0, self.duration_s / 200.0)
        if output.links or output.battery:
            env.process(self._sample(self._sample_every))

    @property
    def n_devices(self) -> int:
        return len(self.devices)

    # --- running ------------------------------------------------------------------------------
    def run(self, progress: Callable[[float], None] | None = None, steps: int = 100) -> None:
        """Advance simulated time to the scenario's duration, reporting progress in `steps` slices."""
        for i in range(1, steps + 1):
            self.env.run(until=self.duration_s * i / steps)
            if self.spill is not None:  # the rows that became final go to disk, their memory back
                self.spill.flush(self.env.now)
            if progress is not None:
                progress(self.env.now)
        if self.scenario.output.links or self.scenario.output.battery:
            self._take_sample()
        if self.dvfs is not None:
            self.dvfs.close(self.duration_s)
        self.energy.close(self.duration_s)
        if self.mobility is not None:
            self.mobility.close(self.duration_s)
        self.recorder.mark_unfinished()
        if self.spill is not None:
            self.spill.close()

    def _follow_trace(self, group: int, rows: list[tuple[float, float, float]]):
        cell = self.topology.cells[self.topology.cell[next(d.index for d in self.devices if d.group == group)]]
        up, down = cell.up, cell.down
        for time_s, up_bps, down_bps in rows:
            if time_s > self.env.now:
                yield self.env.timeout(time_s - self.env.now)
            up.set_capacity(up_bps)
            down.set_capacity(down_bps)

    def table(self) -> dict[str, np.ndarray]:
        """The request columns, with those that follow from device and target derived (REQUEST_COLUMNS order).

        Built once per recorded size: the recorded columns are views (scoring writes into them), the derived
        ones are computed here, and a city-scale run should not hold two copies of them.
        """
        if self._table is None or len(self._table["device"]) != self.recorder.size:
            self._table = self._derive_table()
        return self._table

    def _derive_table(self) -> dict[str, np.ndarray]:
        return self.derive(self.recorder.table())

    def derive(self, recorded: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """REQUEST_COLUMNS of recorded rows (the whole table, or one streamed row group: every derived value
        follows from its own row, so a group derives exactly as it would inside the whole table)."""
        device, target, arrival = recorded["device"], recorded["target"], recorded["arrival_s"]
        fleet, topology = self.fleet, self.topology
        home = np.array([topology.cells[c].site for c in topology.cell])  # each device's site (devices stay put)
        # with mobility each row's own cell (recorded as it arrived) and its site; a row out of coverage has
        # neither (the -1 entry): no site, no propagation
        arrival_cell = recorded.get("arrival_cell")
        cell_site = np.array([cell.site for cell in topology.cells] + [CLOUD_SITE])
        site_compute = np.array([site.compute_s for site in topology.sites])
        # round trip from each device's site to each site: its access link's, plus the metro path's
        metro = np.array([[topology.metro_rtt_s(a, b) for b in range(len(topology.sites))]
                          for a in range(len(topology.sites))])
        access_rtt = np.asarray(fleet.access_rtt_s)
        wan_rtt = np.array([site.wan_rtt_s for site in topology.sites])
        # the cloud each site's cloud requests go to (fixed per site); the -1 entry: a row out of coverage
        site_cloud = np.array([site.cloud for site in topology.sites] + [-1])
        cloud_compute = np.array([cloud.compute_s for cloud in topology.clouds])
        local = np.asarray(fleet.local_compute_s)
        deadline = np.asarray(fleet.deadline_s, np.float32)
        derived = {name: np.empty(len(device), dtype) for name, dtype in DERIVED_COLUMNS.items()}
        for lo in range(0, len(device), DERIVE_ROWS):  # in slices: temporaries stay small at city scale
            rows = slice(lo, lo + DERIVE_ROWS)
            dev, tgt, chosen = device[rows], target[rows], recorded["site_choice"][rows]
            forwarder = recorded["forwarded_by"][rows].astype(np.int64) - 1  # -1: not forwarded
            at_edge = tgt == EDGE
            cell = np.asarray(topology.cell)[dev] if arrival_cell is None else arrival_cell[rows]
            home_of_row = home[dev] if arrival_cell is None else cell_site[cell]
            # an edge request names its site when it was not its device's own: chosen by the policy or forwarded (1 + site), else its device's own
            site = np.where(at_edge, np.where(chosen > 0, chosen - 1, home_of_row), CLOUD_SITE)
            served_site = np.maximum(site, 0)
            cloud = np.where(tgt == CLOUD, site_cloud[home_of_row], -1)
            local_s = local[dev] if self.dvfs is None else self.dvfs.local_compute_s(dev, arrival[rows], local)
            compute = np.where(tgt == LOCAL, local_s, np.where(at_edge, site_compute[served_site],
                                                                   cloud_compute[np.maximum(cloud, 0)]))
            derived["compute_s"][rows] = np.where(tgt >= LOCAL, compute, 0.0)
            # a forwarded request went to the forwarding site first, then on from there
            via = np.where(forwarder >= 0, forwarder, served_site)
            metro_s = np.where(forwarder >= 0, metro[home_of_row, via] + metro[via, served_site],
                               metro[home_of_row, served_site])
            propagation = np.where(at_edge, access_rtt[dev] + metro_s, access_rtt[dev] + wan_rtt[home_of_row])
            offloaded = tgt > LOCAL if arrival_cell is None else (tgt > LOCAL) & (cell >= 0)
            derived["propagation_s"][rows] = np.where(offloaded, propagation, 0.0)
            derived["bytes_up"][rows] = np.where(tgt > LOCAL, self.up_bytes, 0.0)
            derived["hour"][rows] = arrival[rows] // 3600.0
            derived["deadline_s"][rows] = deadline[dev]
            derived["site"][rows] = site
            derived["cell"][rows] = cell
            derived["forwarded"][rows] = forwarder
            derived["cloud"][rows] = cloud
        return {name: derived[name] if name in derived else recorded[name] for name in REQUEST_COLUMNS}

    def links(self) -> list[SharedLink]:
        return self.topology.links()

    def _sample(self, every_s: float):
        """Every `every_s`: link utilisation and throughput, battery state of charge per device class."""
        output = self.scenario.output
        self._sampled_links = self.links() if output.links else []
        self._link_before = [link.counters() for link in self._sampled_links]
        batteries = [d for d in self.devices if self.energy.capacity_j[d.index] is not None] if output.battery else []
        groups = sorted({d.group for d in batteries})
        self._battery_groups = {g: [d.index for d in self.devices if d.group == g] for g in groups}
        while True:
            yield self.env.timeout(every_s)
            if self.env.now < self.duration_s:  # the last sample is taken by run(), at the end
                self._take_sample()

    def _take_sample(self) -> None:
        now, every_s, energy = self.env.now, self._sample_every, self.energy
        for i, link in enumerate(self._sampled_links):
            busy, carried = link.counters()
            busy_before, carried_before = self._link_before[i]
            self.link_samples.append({"time_s": now, "link": link.name, "utilisation": (busy - busy_before) / every_s,
                                      "throughput_bps": (carried - carried_before) * 8.0 / every_s})
            self._link_before[i] = (busy, carried)
        for g, members in self._battery_groups.items():
            socs = np.array([energy.soc(d, now) for d in members])
            self.battery_samples.append({
                "time_s": now, "group": g, "profile": self.devices[members[0]].profile.name,
                "soc_median": float(np.median(socs)), "soc_min": float(socs.min()), "soc_max": float(socs.max()),
                "alive": int(sum(energy.alive(d, now) for d in members))})

    def edge_energy_j(self) -> float:
        """Edge servers: static power plus (max - static) x utilisation each (LEAF's linear model)."""
        total = 0.0
        for site in self.topology.sites:  # the scenario sets cores and speed; the power model is the catalogue's
            power, server = site.power, site.server
            busy_share = min(1.0, server.busy_s / (server.cores * self.duration_s))
            total += (power.idle_w + (power.max_w - power.idle_w) * busy_share) * self.duration_s
        return total

    # --- federation hooks ---------------------------------------------------------------------
    def alive(self, dev: int) -> bool:
        return self.energy.alive(dev, self.env.now)

    def cpu_wait_s(self, dev: int) -> float:
        return self.fleet.cpu[dev].wait_s(self.env.now)

    def train(self, dev: int, samples: int, epochs: int) -> tuple[float, float]:
        """Occupy one device core with local training and charge its energy; return (start, finish)."""
        seconds = self.flops_per_train_sample * samples * epochs / self.fleet.flops_per_s[dev]
        start = self.fleet.cpu[dev].admit(self.env.now, seconds)
        self.energy.compute(dev, seconds, self.env.now)
        return start, start + seconds

    def transfer(self, dev: int, nbytes: float, uplink: bool, on_done: Callable[[], None], wan: bool = True) -> None:
        """Carry a model or an update between device and cloud over the access link and the WAN (`wan`
        False: between device and its site, the access link only: server.hierarchy, server.model_cache).

        No request row: its radio joules, tail included, stay in the device's ledger.
        """
        self.env.process(transfers.carry(self, dev, nbytes, uplink, wan)).callbacks.append(lambda _: on_done())

    def publish(self, version: int, arrays: list[np.ndarray]) -> None:
        """A new global edge model version: the servers serve it (unless they serve a cloud model)."""
        self.versions[version] = arrays
        self.global_version = version

    def publish_cloud(self, arrays: list[np.ndarray]) -> None:
        """The weights of the larger model the edge server and the cloud serve."""
        self.cloud_arrays = arrays

    def install_personal(self, dev: int, server_round: int) -> None:
        """From now on the device answers local requests with the copy it fine-tuned in `server_round`."""
        self.fleet.personal_version[dev] = max(self.fleet.personal_version[dev], server_round)

    def weights(self) -> dict[tuple[int, int], list[np.ndarray]]:
        """Every shared model's weights by (model, version): the global edge versions and the cloud model."""
        out = {(EDGE_MODEL, v): arrays for v, arrays in self.versions.items()}
        if self.cloud_arrays is not None:
            out[(CLOUD_MODEL, 0)] = self.cloud_arrays
        return out
