"""edgefed's engine (the SimPy world) and, in sim.app, its application ring; sim.run_scenario is the front door."""
from __future__ import annotations

from typing import Any


def run_scenario(*args: Any, **kwargs: Any):
    """See sim.app.runner.run_scenario."""
    from sim.app.runner import run_scenario as run

    return run(*args, **kwargs)
