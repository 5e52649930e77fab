"""Gymnasium environments on edgefed's world; importing this package registers them (needs `gymnasium`).

    import gymnasium, sim.envs
    env = gymnasium.make("edgefed/Offload-v0", scenario="scenarios/congested.yaml", seed=1)
    env = gymnasium.make("edgefed/Selection-v0", scenario="scenarios/quickstart.yaml", seed=1)

or, without the import, gymnasium.make("sim.envs:edgefed/Offload-v0", ...). The engine never imports
this package (tests/test_architecture.py). Selection-v0's entry point is in the application ring
(sim/app/selection_env.py): it joins the env with server/'s coordinator and the devices' ClientApps.
"""
from __future__ import annotations

from gymnasium.envs.registration import register, registry

OFFLOAD_ID = "edgefed/Offload-v0"
SELECTION_ID = "edgefed/Selection-v0"


def register_envs() -> None:
    """Register edgefed's environments with gymnasium (once per process)."""
    if OFFLOAD_ID not in registry:
        # no wrappers: the env refuses a step before reset() or after the end itself, and
        # tests/sim/test_envs.py runs gymnasium's check_env; the two default wrappers cost 15% of a step
        # (one run: 19.9k wrapped, 23.2k bare steps/s)
        register(id=OFFLOAD_ID, entry_point="sim.envs.offload:OffloadEnv", disable_env_checker=True,
                 order_enforce=False)
    if SELECTION_ID not in registry:  # seconds a step (Flower training): the wrappers' cost does not matter
        register(id=SELECTION_ID, entry_point="sim.app.selection_env:make_selection_env")


register_envs()
