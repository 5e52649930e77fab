"""Gymnasium environments on edgefed's world; importing this package registers them (needs `gymnasium`).

    import gymnasium, sim.envs
    env = gymnasium.make("edgefed/Offload-v0", scenario="scenarios/congested.yaml", seed=1)

or, without the import, gymnasium.make("sim.envs:edgefed/Offload-v0", ...). The engine never imports
this package (tests/test_architecture.py).
"""
from __future__ import annotations

from gymnasium.envs.registration import register, registry

OFFLOAD_ID = "edgefed/Offload-v0"


def register_envs() -> None:
    """Register edgefed's environments with gymnasium (once per process)."""
    if OFFLOAD_ID not in registry:
        # an episode is the scenario's duration: no step limit; the env checks its own actions
        register(id=OFFLOAD_ID, entry_point="sim.envs.offload:OffloadEnv", disable_env_checker=False)


register_envs()
