"""Local-DVFS: run on the device at the slowest CPU step that meets the deadline (DVFS-aware offloading)."""
from __future__ import annotations

from sim.policies.base import EDGE, LOCAL, BasePolicy
from sim.policies.observation import Observation


class LocalDvfs(BasePolicy):
    """On the device at the slowest CPU step expected to meet the deadline, else offload to the edge."""

    # Slowest is cheapest when the dynamic energy per inference (P(f) - P_idle) t(f) rises with f, as it does for
    # every table in the catalogue (local execution with per-task frequency choice: Zhang et al., IEEE TWC 2013;
    # Mao, Zhang, Letaief, JSAC 2016). A device without a P-state table is served on the device as it is.
    name = "local-dvfs"
    sets_dvfs_step = True  # decide() returns (LOCAL, step index) for devices with a table (sim.dvfs)

    def bind(self, world) -> None:
        """Each governed device's local compute time per step and its transition latency (its own table)."""
        dvfs = world.dvfs
        self._compute_s = dict(dvfs.compute_s) if dvfs is not None else {}
        self._transition_s = {dev: table.transition_s for dev, table in dvfs.table.items()} if dvfs else {}
        self._step = dvfs.step if dvfs is not None else {}

    def decide(self, obs: Observation):
        steps = self._compute_s.get(obs.device)
        if steps is None:
            return LOCAL
        current = self._step[obs.device]
        for k, compute in enumerate(steps):
            stall = self._transition_s[obs.device] if k != current else 0.0
            if obs.cpu_wait_s + stall + compute <= obs.deadline_s:
                return LOCAL, k
        return EDGE
