"""The simulated world: clock, devices, network, energy, workload, offload policies, metrics, runner, CLI."""
from __future__ import annotations

from typing import Any


def run_scenario(*args: Any, **kwargs: Any):
    """See sim.runner.run_scenario."""
    from sim.runner import run_scenario as run

    return run(*args, **kwargs)
