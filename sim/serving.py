"""Serving inference requests: arrival, the policy's choice, local compute or the offload hops, the reply.

This is the event loop's hot path (performance rules in DESIGN.md): per request it does a few list
lookups, one policy call and a handful of column writes. An offloaded request in flight is one small
list, [row, device, target, stage start, transfer s, radio J, arrival], passed from hop to hop; its
totals go into the recorder's columns once, when the reply is delivered, except its radio energy, which
FleetEnergy bills to the row as it is spent (the tail after the reply comes later). Arrivals are the
calendar's fed stream; everything else that takes time is a calendar entry: a radio promotion, a link's
next departure, a server's reply.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np

from clients.spec import EDGE_MODEL, PERSONAL_MODEL
from sim.policies import EDGE, LOCAL, Observation
from sim.recorder import BATTERY_EMPTY

if TYPE_CHECKING:
    from sim.world import World

# Weight of the newest throughput sample in a device's running estimate.
THROUGHPUT_EWMA = 0.2
# positions in an in-flight request's list
ROW, DEV, TARGET, MARK, TRANSFER, RADIO, ARRIVAL = range(7)


class Serving:
    """Every request of a world from arrival to reply, on the world's calendar."""

    def __init__(self, world: World, arrivals: Iterator[tuple[np.ndarray, np.ndarray]]):
        self.world = world
        self.env, self.calendar, self.recorder, self.energy = world.env, world.calendar, world.recorder, world.energy
        self._decide = world.policy.decide
        # policies that do not learn from outcomes are not told them
        self._observe_outcome = world.policy.observe if getattr(world.policy, "uses_outcomes", True) else None
        # fixed and random policies ignore the observation: skip filling it
        self._observing = getattr(world.policy, "uses_observation", True)
        self._observations = [self._static_observation(dev) for dev in range(world.n_devices)] \
            if self._observing else []
        self._battery = world.energy.capacity_j  # None for mains-powered devices: always alive
        # the world's per-device lists (shared, updated in place) and fixed quantities, one attribute load away
        self._cpu, self._local_compute, self._deadline = world._cpu, world._local_compute, world._deadline
        self._up_link, self._down_link = world._up_link, world._down_link
        self._up_bps, self._down_bps, self._access_rtt = world._up_bps, world._down_bps, world._access_rtt
        self._up_bytes, self._down_bytes = world.up_bytes, world.down_bytes
        self._arrivals = arrivals
        # bound once: a callback is then a plain attribute load, not a new bound method per request
        self._start_upload, self._uploaded = self._on_promoted_up, self._on_uploaded
        self._wan_uploaded, self._reply_from_cloud, self._wan_downloaded = self._on_wan_uploaded, \
            self._on_reply_from_cloud, self._on_wan_downloaded
        self._reply_at_access = self._on_reply_at_access
        self._start_download, self._delivered = self._on_promoted_down, self._on_delivered

    def start(self) -> None:
        """Feed the fleet's arrivals to the calendar: each calls arrive(device) at its time."""
        self.calendar.feed(self._chunks(), self.arrive)

    def _chunks(self) -> Iterator[tuple[list[float], list[int]]]:
        """The arrival chunks; each writes its rows' arrival time and device ahead of the clock (row k is arrival k)."""
        rec, first = self.recorder, 0
        for times, devs in self._arrivals:
            end = first + len(times)
            rec.reserve(end)
            rec.arrival_s[first:end] = times
            rec.device[first:end] = devs
            first = end
            yield times.tolist(), devs.tolist()

    # --- one request ------------------------------------------------------------------------------
    def arrive(self, dev: int) -> None:
        """A request arrives at device `dev` now: drop it, compute it locally, or start offloading it."""
        now = self.env._now
        rec = self.recorder
        row = rec.size  # its arrival time and device are written already (_chunks)
        rec.size = row + 1
        energy = self.energy
        if self._battery[dev] is not None and not energy.alive(dev, now):
            rec.dropped[row] = BATTERY_EMPTY
            rec.target[row] = -1
            return
        if self._observing:
            obs = self._fill_observation(dev, now)
            obs.request = row
            target = self._decide(obs)
        else:
            target = self._decide(None)
        self.dispatch(row, dev, target, now)

    def dispatch(self, row: int, dev: int, target: int, now: float) -> None:
        """Serve request `row` of device `dev` on the decided target: compute it locally or start offloading it.

        A seam for sim.envs: an agent's decide() raises out of arrive(), and the env calls this with its action.
        """
        rec, energy, world = self.recorder, self.energy, self.world
        rec.target[row] = target
        if target == LOCAL:
            compute = self._local_compute[dev]
            start = self._cpu[dev].admit(now, compute)
            joules = energy.compute(dev, compute, now)
            latency = start + compute - now
            rec.queue_s[row] = start - now
            rec.latency_s[row] = latency
            rec.energy_compute_j[row] = joules
            personal = world.personal_version[dev]
            if personal >= 0:
                rec.model[row] = PERSONAL_MODEL
                rec.model_version[row] = personal
            else:
                version = world.device_version[dev]
                if version:  # the column starts at 0
                    rec.model_version[row] = version
            if self._observe_outcome is not None:
                self._observe_outcome(LOCAL, latency, joules, latency <= self._deadline[dev], row)
            return
        delay, joules = energy.radio_start(dev, now, row)
        request = [row, dev, target, now + delay, delay, joules, now]
        if delay > 0.0:
            self.calendar.at(now + delay, self._start_upload, request)
        else:
            self._up_link[dev].send(self._up_bytes, self._uploaded, request)

    def _static_observation(self, dev: int) -> Observation:
        """A device's observation with the fields that never change during a run set once."""
        world, obs = self.world, Observation()
        device = world.devices[dev]
        obs.device, obs.group, obs.radio = dev, device.group, device.link
        obs.deadline_s = world._deadline[dev]
        obs.compute_s = world._compute_s[dev]
        obs.compute_w = self.energy.dynamic_w[dev]
        obs.access_rtt_s = world._access_rtt[dev]
        obs.up_bytes, obs.down_bytes = world.up_bytes, world.down_bytes
        obs.wan_rtt_s, obs.wan_bps = world.wan_rtt_s, world.scenario.cloud.wan_up
        return obs

    def _fill_observation(self, dev: int, now: float) -> Observation:
        """The device's observation, its changing fields refilled with what the device knows now."""
        obs, energy, world = self._observations[dev], self.energy, self.world
        obs.now = now
        obs.battery_soc = 1.0 if self._battery[dev] is None else energy.soc(dev, now)
        obs.cpu_wait_s = self._cpu[dev].wait_s(now)
        obs.up_bps = self._up_bps[dev]
        obs.down_bps = self._down_bps[dev]
        obs.edge_wait_s = world._edge_wait_seen[dev]
        obs.radio_idle_s = energy.radio_idle_s(dev, now)
        obs.local_version = world.device_version[dev]
        obs.server_version = world.global_version
        return obs

    def _access_hop_done(self, request: list, now: float, nbytes: float, uplink: bool, measured_bps: list[float]
                         ) -> None:
        """A transfer on the device's access link ends: its radio energy and time, and the device's new
        throughput estimate (EWMA of nbytes over the time the transfer took)."""
        dev = request[DEV]
        took = now - request[MARK]
        request[RADIO] += self.energy.radio_end(dev, now, nbytes, took, uplink, request[ROW])
        request[TRANSFER] += took
        measured_bps[dev] += THROUGHPUT_EWMA * (nbytes * 8.0 / (took if took > 1e-9 else 1e-9) - measured_bps[dev])

    def _on_promoted_up(self, request: list) -> None:
        self._up_link[request[DEV]].send(self._up_bytes, self._uploaded, request)

    def _on_uploaded(self, request: list) -> None:
        now = self.env._now
        world = self.world
        dev = request[DEV]
        self._access_hop_done(request, now, self._up_bytes, True, self._up_bps)
        if request[TARGET] == EDGE:
            rtt = self._access_rtt[dev]
            start = world.edge_server.admit(now, world._edge_compute)
            world._edge_wait_seen[dev] = start - now
            self._serve(request, now, start, world._edge_compute, rtt, self._reply_at_access)
        else:
            request[MARK] = now
            world.wan_up.send(self._up_bytes, self._wan_uploaded, request)

    def _on_wan_uploaded(self, request: list) -> None:
        now = self.env._now
        world = self.world
        request[TRANSFER] += now - request[MARK]
        start = world.cloud_server.admit(now, world._cloud_compute)
        self._serve(request, now, start, world._cloud_compute, self._access_rtt[request[DEV]] + world.wan_rtt_s,
                    self._reply_from_cloud)

    def _serve(self, request: list, now: float, start: float, compute: float, rtt: float,
               then: Callable[[list], None]) -> None:
        """Queue at the server (FIFO, already admitted) and compute; `then` the reply, after both RTT halves.

        Propagation is added after the server so FIFO order at the server is arrival order.
        """
        world, rec, row = self.world, self.recorder, request[ROW]
        rec.queue_s[row] = start - now
        if world.server_model != EDGE_MODEL:  # the columns start at EDGE_MODEL (0), version 0
            rec.model[row] = world.server_model
        elif world.global_version:
            rec.model_version[row] = world.global_version
        self.calendar.at(now + (start - now + compute + rtt), then, request)

    def _on_reply_from_cloud(self, request: list) -> None:
        world = self.world
        request[MARK] = self.env._now
        world.wan_down.send(self._down_bytes, self._wan_downloaded, request)

    def _on_wan_downloaded(self, request: list) -> None:
        request[TRANSFER] += self.env._now - request[MARK]
        self._on_reply_at_access(request)

    def _on_reply_at_access(self, request: list) -> None:
        """The reply starts down the access link (after the radio's promotion if it went idle)."""
        now = self.env._now
        dev = request[DEV]
        delay, joules = self.energy.radio_start(dev, now, request[ROW])
        request[RADIO] += joules
        request[TRANSFER] += delay
        request[MARK] = now + delay
        if delay > 0.0:
            self.calendar.at(now + delay, self._start_download, request)
        else:
            self._down_link[dev].send(self._down_bytes, self._delivered, request)

    def _on_promoted_down(self, request: list) -> None:
        self._down_link[request[DEV]].send(self._down_bytes, self._delivered, request)

    def _on_delivered(self, request: list) -> None:
        now = self.env._now
        rec = self.recorder
        row, dev = request[ROW], request[DEV]
        self._access_hop_done(request, now, self._down_bytes, False, self._down_bps)
        latency = now - request[ARRIVAL]
        rec.transfer_s[row] = request[TRANSFER]
        rec.latency_s[row] = latency
        if self._observe_outcome is not None:
            # promotion and transfer joules only: the tail that follows is not known yet (the row gets it later)
            self._observe_outcome(request[TARGET], latency, request[RADIO], latency <= self._deadline[dev], row)
