"""The fixed targets: every request on the device, the edge server or the cloud."""
from __future__ import annotations

from typing import ClassVar

from sim.policies.base import CLOUD, EDGE, LOCAL, BasePolicy, Param, site_target
from sim.policies.observation import Observation


class Fixed(BasePolicy):
    """Always the same target."""

    uses_observation = False  # the world skips filling the observation for it
    target: ClassVar[int]

    def decide(self, obs: Observation) -> int:
        return self.target


class Local(Fixed):
    """Fixed target: every request computed on the device itself."""

    name = "local"
    target = LOCAL


class Edge(Fixed):
    """Fixed target: every request offloaded to the edge server (of the device's own site, or of `site`)."""

    name = "edge"
    params = {"site": Param(-1.0, "the edge site to offload to, by its index in `sites:`; -1: the device's own")}

    def __init__(self, rng, **values):
        super().__init__(rng, **values)
        if self.site != int(self.site) or self.site < -1:
            raise ValueError(f"site must be -1 or a site's index (0, 1, ...), got {self.site:g}")
        self.target = EDGE if self.site < 0 else site_target(int(self.site))


class Cloud(Fixed):
    """Fixed target: every request offloaded to the cloud."""

    name = "cloud"
    target = CLOUD
