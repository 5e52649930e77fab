"""The fixed targets: every request on the device, the edge server or the cloud."""
from __future__ import annotations

from typing import ClassVar

from sim.policies.base import CLOUD, EDGE, LOCAL, BasePolicy
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
    """Fixed target: every request offloaded to the edge server."""

    name = "edge"
    target = EDGE


class Cloud(Fixed):
    """Fixed target: every request offloaded to the cloud."""

    name = "cloud"
    target = CLOUD
