"""Serving inference requests: arrival, the policy's choice, local compute or the offload hops, the reply.

This is the event loop's hot path (performance rules in DESIGN.md): per request it does a few list
lookups, one policy call and a handful of column writes. An offloaded request in flight is one small
list, [row, device, target, stage start, transfer s, radio J, arrival, route, hop], passed from hop to hop
along its route (the access link, then the route's metro or WAN hops to its server, and back); its
totals go into the recorder's columns once, when the reply is delivered, except its radio energy, which
FleetEnergy bills to the row as it is spent (the tail after the reply comes later). Arrivals are the
calendar's fed stream; everything else that takes time is a calendar entry: a radio promotion, a link's
next departure, a server's reply.
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from clients.spec import EDGE_MODEL, PERSONAL_MODEL
from sim.policies import CLOUD, EDGE, FIRST_SITE, LOCAL, Observation
from sim.recorder import BATTERY_EMPTY, SERVED, TIMEOUT

# Weight of the newest throughput sample in a device's running estimate.
THROUGHPUT_EWMA = 0.2
# positions in an in-flight request's list
ROW, DEV, TARGET, MARK, TRANSFER, RADIO, ARRIVAL, ROUTE, HOP, FORWARDED = range(10)  # FORWARDED: appended
# positions in a route (sim.topology)
SERVER, COMPUTE, UP_HOPS, DOWN_HOPS, RTT, SITE = range(6)


class Serving:
    """Every request of a world from arrival to reply, on the world's calendar."""

    # slots: past 30 attribute names CPython's instances leave their fast shared-key layout, and every self.x
    # load on the request path costs ~10% more (it did here, at 38 names)
    __slots__ = ("world", "env", "calendar", "recorder", "energy", "_decide", "_observe_outcome", "_observing",
                 "_battery", "_cpu", "_local_compute", "_deadline", "_device_version", "_personal_version",
                 "_up_bps", "_down_bps", "_access_rtt", "_up_link", "_down_link", "_routes", "_wait_seen",
                 "_home_site", "_topology", "_forward", "_forward_threshold_s", "_outages", "_down", "_up_bytes",
                 "_down_bytes", "_observations", "_arrivals", "_start_upload", "_uploaded", "_hop_up_done",
                 "_last_up_done", "_hop_down_done", "_last_down_done", "_reply_at_access", "_start_download",
                 "_delivered", "_give_up", "_serve_at", "_at_server", "_leave_by_hops", "_leave_to_access")

    # `world` is the sim.world.World being built (typed Any: World builds Serving, and a type import back would
    # be an import cycle); Serving reads only its public parts: env, calendar, recorder, energy, fleet, topology,
    # policy, request sizes and the model versions the servers hold
    def __init__(self, world: Any, arrivals: Iterator[tuple[np.ndarray, np.ndarray]]):
        self.world = world  # for the model versions the servers hold, which federation changes as it goes
        self.env, self.calendar, self.recorder, self.energy = world.env, world.calendar, world.recorder, world.energy
        fleet, topology = world.fleet, world.topology
        self._decide = world.policy.decide
        # policies that do not learn from outcomes are not told them
        self._observe_outcome = world.policy.observe if getattr(world.policy, "uses_outcomes", True) else None
        # fixed and random policies ignore the observation: skip filling it
        self._observing = getattr(world.policy, "uses_observation", True)
        self._battery = world.energy.capacity_j  # None for mains-powered devices: always alive
        # the fleet's and topology's per-device lists (shared, updated in place), one attribute load away
        self._cpu, self._local_compute, self._deadline = fleet.cpu, fleet.local_compute_s, fleet.deadline_s
        self._device_version, self._personal_version = fleet.model_version, fleet.personal_version
        self._up_bps, self._down_bps, self._access_rtt = fleet.up_bps, fleet.down_bps, fleet.access_rtt_s
        self._up_link, self._down_link = topology.up_link, topology.down_link
        self._routes, self._wait_seen, self._home_site = topology.routes, topology.wait_seen, topology.home_site
        self._topology = topology
        # edge-side forwarding: per site, where it may pass requests on (None: sites never forward)
        self._forward = topology.forward_candidates((world.up_bytes + world.down_bytes) * 8.0) \
            if topology.forwarding != "none" else None
        self._forward_threshold_s = topology.forward_threshold_s
        # outages (sim.outages): None in a world without them, whose request path then runs no outage code at all
        self._outages = world.outages
        self._down = world.outages.down if world.outages is not None else None
        self._up_bytes, self._down_bytes = world.up_bytes, world.down_bytes
        self._observations = [self._static_observation(dev) for dev in range(world.n_devices)] \
            if self._observing else []
        self._arrivals = arrivals
        # bound once: a callback is then a plain attribute load, not a new bound method per request
        # a hop that is not its route's last hands on to the next one; the last one to the server or the access link
        self._start_upload, self._uploaded = self._on_promoted_up, self._on_uploaded
        self._hop_up_done, self._last_up_done = self._on_hop_up_done, self._on_last_hop_up_done
        self._hop_down_done, self._last_down_done = self._on_hop_down_done, self._on_last_hop_down_done
        self._reply_at_access = self._on_reply_at_access
        self._start_download, self._delivered = self._on_promoted_down, self._on_delivered
        # a request at its server is served there, or (forwarding) first offered to the neighbour sites
        self._serve_at = self._serve if self._forward is None else self._serve_or_forward
        self._at_server = self._serve_at
        # a server's reply leaves it over the route's hops, or straight onto the access link
        self._leave_by_hops, self._leave_to_access = self._on_leaving_server, self._reply_at_access
        if self._outages is not None:  # the plain path runs no outage code at all
            self._delivered, self._give_up = self._on_delivered_unless_given_up, self._on_timeout
            self._at_server = self._at_server_unless_down
            self._leave_by_hops, self._leave_to_access = self._leave_unless_down, self._leave_unless_down
        else:
            self._give_up = None

    def start(self) -> None:
        """Feed the fleet's arrivals to the calendar: each calls arrive(device) at its time."""
        self.calendar.feed(self._chunks(), self.arrive if self.world.mobility is None else self._arrive_in_cell)

    def _arrive_in_cell(self, dev: int) -> None:
        """With mobility: the row keeps the cell its device is in as it arrives (World.table derives from it)."""
        self.recorder.arrival_cell[self.recorder.size] = self._topology.cell[dev]
        self.arrive(dev)

    def moved(self, dev: int) -> None:
        """Device `dev` changed cell (sim.mobility): its observation's fixed fields follow its new site."""
        if self._observing:
            self._observations[dev] = self._static_observation(dev)

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
    def arrive(self, dev: int, decided: tuple[int, int, float] | None = None) -> None:
        """A request arrives at device `dev` now: drop it, compute it locally, or start offloading it.

        `decided` (row, target, now) is sim.envs's re-entry (see dispatch): the policy's decision is given and the
        request already counted. One function for both, so the request path pays no extra call.
        """
        rec, energy = self.recorder, self.energy
        if decided is None:
            now = self.env._now
            row = rec.size  # its arrival time and device are written already (_chunks)
            rec.size = row + 1
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
        else:
            row, target, now = decided
        if target == LOCAL:  # the target column starts at LOCAL (0): nothing to write
            latency, joules = self._compute_locally(row, dev, now, now)
            if self._observe_outcome is not None:
                self._observe_outcome(LOCAL, latency, joules, latency <= self._deadline[dev], row)
            return
        route = self._routes[dev][target]  # IndexError for a site that does not exist: a policy's bug
        if target >= FIRST_SITE:  # a site the policy named: the row says which (World.table() fills in the rest)
            if route is None:
                raise ValueError(f"policy chose site {target - FIRST_SITE}, unreachable from device {dev}'s cell")
            rec.site_choice[row] = target - FIRST_SITE + 1
            target = EDGE
        rec.target[row] = target
        delay, joules = energy.radio_start(dev, now, row)
        request = [row, dev, target, now + delay, delay, joules, now, route, 0]
        if self._outages is not None:
            self.calendar.at(now + self._outages.timeout_s[dev], self._give_up, request)
        if delay > 0.0:
            self.calendar.at(now + delay, self._start_upload, request)
        else:
            self._up_link[dev].send(self._up_bytes, self._uploaded, request)

    def _compute_locally(self, row: int, dev: int, now: float, arrival: float) -> tuple[float, float]:
        """Run request `row` on device `dev`'s CPU from `now` (it arrived at `arrival`): its columns, and its
        (latency, compute joules). The model columns start at the edge model, version 0."""
        compute = self._local_compute[dev]
        start = self._cpu[dev].admit(now, compute)
        joules = self.energy.compute(dev, compute, now)
        latency = start + compute - arrival
        rec = self.recorder
        rec.queue_s[row] = start - now
        rec.latency_s[row] = latency
        rec.energy_compute_j[row] = joules
        personal = self._personal_version[dev]
        if personal >= 0:
            rec.model[row] = PERSONAL_MODEL
            rec.model_version[row] = personal
        else:
            version = self._device_version[dev]
            if version:  # the column starts at 0
                rec.model_version[row] = version
        return latency, joules

    def dispatch(self, row: int, dev: int, target: int, now: float) -> None:
        """Serve request `row` of device `dev` on the decided target: compute it locally or start offloading it.

        A seam for sim.envs: an agent's decide() raises out of arrive(), and the env calls this with its action.
        """
        self.arrive(dev, (row, target, now))

    def _static_observation(self, dev: int) -> Observation:
        """A device's observation with the fields that never change during a run set once."""
        world, obs = self.world, Observation()
        device, routes = world.devices[dev], self._routes[dev]
        obs.device, obs.group, obs.radio = dev, device.group, device.link
        obs.deadline_s = self._deadline[dev]
        obs.compute_s = (self._local_compute[dev], routes[EDGE][COMPUTE], routes[CLOUD][COMPUTE])
        obs.compute_w = self.energy.dynamic_w[dev]
        obs.access_rtt_s = self._access_rtt[dev]
        obs.up_bytes, obs.down_bytes = world.up_bytes, world.down_bytes
        home = self._topology.sites[self._home_site[dev]]
        obs.wan_rtt_s, obs.wan_bps = home.wan_rtt_s, home.wan_up.capacity_bps  # its rate when up
        if self._outages is not None:
            obs.cloud_wait_s = self._outages.cloud_wait_seen[dev]
        obs.home_site, obs.site_wait_s, obs.site_rtt_s, obs.site_compute_s, obs.site_metro_bps, obs.site_floor_s = \
            self._topology.site_estimates(dev)
        return obs

    def _fill_observation(self, dev: int, now: float) -> Observation:
        """The device's observation, its changing fields refilled with what the device knows now."""
        obs, energy, world = self._observations[dev], self.energy, self.world
        obs.now = now
        obs.battery_soc = 1.0 if self._battery[dev] is None else energy.soc(dev, now)
        obs.cpu_wait_s = self._cpu[dev].wait_s(now)
        obs.up_bps = self._up_bps[dev]
        obs.down_bps = self._down_bps[dev]
        obs.edge_wait_s = self._wait_seen[dev][self._home_site[dev]]
        obs.radio_idle_s = energy.radio_idle_s(dev, now)
        obs.local_version = self._device_version[dev]
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
        """The request is through the access uplink: on over the route's first hop, or to its server."""
        now = self.env._now
        self._access_hop_done(request, now, self._up_bytes, True, self._up_bps)
        hops = request[ROUTE][UP_HOPS]
        if hops:
            request[MARK] = now
            hops[0].send(self._up_bytes, self._hop_up_done if len(hops) > 1 else self._last_up_done, request)
        else:
            self._at_server(request, now)

    def _on_hop_up_done(self, request: list) -> None:
        """A hop before the route's last one has carried the request: on over the next."""
        now = self.env._now
        request[TRANSFER] += now - request[MARK]
        hop = request[HOP] + 1
        hops = request[ROUTE][UP_HOPS]
        request[HOP] = hop
        request[MARK] = now
        hops[hop].send(self._up_bytes, self._hop_up_done if hop + 1 < len(hops) else self._last_up_done, request)

    def _on_last_hop_up_done(self, request: list) -> None:
        now = self.env._now
        request[TRANSFER] += now - request[MARK]
        self._at_server(request, now)

    def _serve(self, request: list, now: float) -> None:
        """Queue at the route's server (FIFO) and compute; the reply leaves after both RTT halves.

        Propagation is added after the server so FIFO order at the server is arrival order.
        """
        server, compute, _, down_hops, rtt, site = request[ROUTE]
        start = server.admit(now, compute)
        world, rec, row = self.world, self.recorder, request[ROW]
        if site >= 0:  # an edge server tells the device its queue with the reply
            self._wait_seen[request[DEV]][site] = start - now
        rec.queue_s[row] = start - now
        if world.server_model != EDGE_MODEL:  # the columns start at EDGE_MODEL (0), version 0
            rec.model[row] = world.server_model
        elif world.global_version:
            rec.model_version[row] = world.global_version
        self.calendar.at(now + (start - now + compute + rtt), self._leave_by_hops if down_hops else
                         self._leave_to_access, request)

    def _serve_or_forward(self, request: list, now: float) -> None:
        """With forwarding: an edge site passes a request it was sent (not one forwarded to it) on to the
        neighbour expected to finish it first, when that beats serving it here."""
        server, compute, _, _, _, site = request[ROUTE]
        if site >= 0 and len(request) == FORWARDED:  # not forwarded yet
            better = self._forward_target(site, server, compute, now)
            if better is not None:
                self._forward_to(request, site, better, now)
                return
        self._serve(request, now)

    def _at_server_unless_down(self, request: list, now: float) -> None:
        """A world with outages: a server that is down accepts nothing (a negative site: a cloud), nor one whose
        device has given up on it and run it itself (timeouts.retry_local)."""
        if not self._down[request[ROUTE][SITE]] and not self.recorder.retried[request[ROW]]:
            self._serve_at(request, now)

    def _leave_unless_down(self, request: list) -> None:
        """The reply leaves the server, unless the server went down meanwhile: what it held is lost with it
        (the request's timeout records it)."""
        if self._down[request[ROUTE][SITE]]:
            return
        (self._on_leaving_server if request[ROUTE][DOWN_HOPS] else self._reply_at_access)(request)

    def _forward_target(self, site: int, server, compute: float, now: float) -> tuple | None:
        """The site this one passes a request to: the one expected to finish it first, metro included, if that
        beats serving it here (and, under `threshold`, only when this queue's wait exceeds the threshold)."""
        wait = server.wait_s(now)
        if wait <= self._forward_threshold_s and self._forward_threshold_s > 0.0:
            return None
        best, best_s = None, wait + compute
        for candidate in self._forward[site]:
            expected = candidate[1].wait_s(now) + candidate[2] + candidate[3]
            if expected < best_s:
                best, best_s = candidate, expected
        return best

    def _forward_to(self, request: list, site: int, candidate: tuple, now: float) -> None:
        """On over the metro to the candidate site; the reply comes back the same way, then as it would have."""
        to, server, compute, _, up_hops, down_hops, rtt = candidate
        _, _, _, then_down, then_rtt, _ = request[ROUTE]
        request[ROUTE] = (server, compute, up_hops, down_hops + then_down, then_rtt + rtt, to)
        request.append(site)  # request[FORWARDED]: it is not forwarded twice
        rec, row = self.recorder, request[ROW]
        rec.forwarded_by[row] = site + 1
        rec.site_choice[row] = to + 1
        request[HOP] = 0
        request[MARK] = now
        up_hops[0].send(self._up_bytes, self._hop_up_done if len(up_hops) > 1 else self._last_up_done, request)

    def _on_timeout(self, request: list) -> None:
        """No reply by the request's timeout: it is given up (or, with `timeouts.retry_local`, run on the device
        from now on), and its device learns the site is not answering."""
        rec, row, dev = self.recorder, request[ROW], request[DEV]
        if rec.latency_s[row] == rec.latency_s[row] or rec.dropped[row] != SERVED:  # answered (not NaN), or lost
            return
        outages, now = self._outages, self.env._now
        retry = outages.retry_local and (self._battery[dev] is None or self.energy.alive(dev, now))
        if not retry:
            rec.dropped[row] = TIMEOUT
        outages.gave_up(request)
        if self._observe_outcome is not None:  # a learning policy learns that this choice cost a timeout
            self._observe_outcome(request[TARGET], outages.timeout_s[dev], request[RADIO], False, row)
        if retry:
            outages.retried += 1
            self._retry_locally(row, dev, request[ARRIVAL], now)

    def _retry_locally(self, row: int, dev: int, arrival: float, now: float) -> None:
        """The row becomes a local request started at its timeout, marked `retried`; what the offload attempt
        wrote (a server's queue and model, a forwarding) gives way to it, its radio joules stay (they were spent).
        The device cancels the offloaded copy: a server it reaches from now on drops it (gRPC-style deadline
        propagation), and a reply already on its way books only its radio work."""
        rec = self.recorder
        rec.target[row] = LOCAL
        rec.retried[row] = 1
        rec.model[row] = EDGE_MODEL
        rec.model_version[row] = rec.site_choice[row] = rec.forwarded_by[row] = 0
        self._compute_locally(row, dev, now, arrival)

    def cloud_wait_seen(self, dev: int, wait_s: float) -> None:
        """What device `dev` now believes of the cloud's queue (sim.outages: a timeout, or a probe's answer)."""
        if self._observing:
            self._observations[dev].cloud_wait_s = wait_s

    def _on_delivered_unless_given_up(self, request: list) -> None:
        rec, row = self.recorder, request[ROW]
        if rec.dropped[row] == TIMEOUT or rec.retried[row]:  # too late: only the radio's work is booked
            self._access_hop_done(request, self.env._now, self._down_bytes, False, self._down_bps)
            return
        self._on_delivered(request)

    def _on_leaving_server(self, request: list) -> None:
        """The reply leaves the server over the first hop of the way back."""
        hops = request[ROUTE][DOWN_HOPS]
        request[MARK] = self.env._now
        if len(hops) > 1:
            request[HOP] = 0
            hops[0].send(self._down_bytes, self._hop_down_done, request)
        else:
            hops[0].send(self._down_bytes, self._last_down_done, request)

    def _on_hop_down_done(self, request: list) -> None:
        """A hop before the last one back has carried the reply: on over the next."""
        now = self.env._now
        request[TRANSFER] += now - request[MARK]
        hop = request[HOP] + 1
        hops = request[ROUTE][DOWN_HOPS]
        request[HOP] = hop
        request[MARK] = now
        hops[hop].send(self._down_bytes, self._hop_down_done if hop + 1 < len(hops) else self._last_down_done,
                       request)

    def _on_last_hop_down_done(self, request: list) -> None:
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
