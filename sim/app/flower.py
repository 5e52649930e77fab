"""The ServerApp that `flwr run .` and a Deployment Engine load (pyproject.toml [tool.flwr.app.components]).

It lives in the application ring because it writes a run directory; server/app.py builds the world and drives
the rounds. Its run config names the scenario and the run directory: --run-config "scenario='...' out='...'".
"""
from __future__ import annotations

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from server.app import run_world
from sim import scenario as scenarios
from sim.app.runner import collect, write_run

app = ServerApp()


@app.main()
def flwr_main(grid: Grid, context: Context) -> None:
    scenario = scenarios.load(str(context.run_config["scenario"]))
    holder = run_world(scenario, grid)
    result = collect(holder["world"], holder["rounds"], holder["round_clients"], holder["versions"])
    write_run(result, str(context.run_config.get("out", f"runs/{scenario.name}-flwr")))
