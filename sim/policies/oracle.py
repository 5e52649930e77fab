"""The oracle: a reference bound that no device could run, for judging the realisable policies."""
from __future__ import annotations

import math

from sim.policies.base import CLOUD, EDGE, LOCAL, BasePolicy
from sim.policies.observation import Observation


class Oracle(BasePolicy):
    """NOT REALISABLE: reads the true queues and link shares of the moment; a reference bound.

    For each target it computes the latency the request would see if nothing else arrived:
    the true CPU and server queues, the processor-sharing share of each link with this flow
    added, radio promotion when the radio is idle past its tail; and whether each part is up (sim.outages).
    """

    name = "oracle"

    def bind(self, world) -> None:
        self.world = world

    def _transfer_s(self, link, nbytes: float) -> float:
        rate = link.bytes_per_s  # 0 while the link is down (sim.outages): the transfer would not finish
        return nbytes / (rate / (link.active_flows + 1)) if rate > 0.0 else math.inf

    def decide(self, obs: Observation) -> int:
        world, dev, now = self.world, obs.device, obs.now
        topology = world.topology
        local = world.fleet.cpu[dev].wait_s(now) + obs.compute_s[LOCAL]
        radio = obs.radio
        promotion = radio.promotion_s if obs.radio_idle_s >= radio.tail_s else 0.0
        up = promotion + self._transfer_s(topology.up_link[dev], obs.up_bytes)
        down = self._transfer_s(topology.down_link[dev], obs.down_bytes)
        site = topology.sites[topology.home_site[dev]]
        edge = up + site.server.wait_s(now + up) + obs.compute_s[EDGE] + obs.access_rtt_s + down
        wan = self._transfer_s(site.wan_up, obs.up_bytes)
        to_cloud = topology.routes[dev][CLOUD]  # the cloud its site's WAN leads to
        cloud = (up + wan + to_cloud[0].wait_s(now + up + wan) + obs.compute_s[CLOUD] + obs.access_rtt_s
                 + obs.wan_rtt_s + self._transfer_s(site.wan_down, obs.down_bytes) + down)
        down = world.outages.down if world.outages is not None else None
        if down is not None:  # a dead server never answers
            edge = math.inf if down[site.index] else edge
            cloud = math.inf if down[to_cloud[5]] else cloud  # route positions: server 0, site 5 (sim.topology)
        if local <= edge and local <= cloud:
            return LOCAL
        return EDGE if edge <= cloud else CLOUD
