"""The ServerApp that `flwr run .` and a Deployment Engine load (pyproject.toml [tool.flwr.app.components]).

It lives in the application ring because it writes a run directory; server/app.py builds the world and drives
the rounds. Its run config names the scenario and the run directory, and may pool the devices on fewer
SuperNodes: --run-config "scenario='...' out='...' supernodes=2" (docs/deployment.md). A relative scenario path
that is not found from the working directory is read from the app package (its scenarios/ travel in it).
"""
from __future__ import annotations

from pathlib import Path

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from server.app import run_world
from sim import scenario as scenarios
from sim.app import pretrain_cache
from sim.app.runner import collect, write_run

app = ServerApp()
APP_ROOT = Path(__file__).resolve().parents[2]  # the app package's top (or the source checkout)


def scenario_of(run_config: dict) -> scenarios.Scenario:
    """The run config's scenario, with its devices on `supernodes` SuperNodes when that is set (0: as the file says)."""
    path = Path(str(run_config["scenario"]))
    if not path.is_absolute() and not path.exists() and (APP_ROOT / path).exists():
        path = APP_ROOT / path
    scenario = scenarios.load(path)
    pooled = int(run_config.get("supernodes", 0))
    if pooled:
        data = scenario.model_dump(mode="json")
        data["federation"]["supernodes"] = pooled
        scenario = scenarios.parse(data, str(path))
    return scenario


@app.main()
def flwr_main(grid: Grid, context: Context) -> None:
    scenario = scenario_of(context.run_config)
    # models pretrained with the same settings (by an earlier run on this machine) skip pretraining, as locally
    key = pretrain_cache.pretrain_key(scenario) if scenario.federation.pretrain.rounds else None
    cached = pretrain_cache.load(key) if key else None
    holder = run_world(scenario, grid, pretrained=cached)
    if key and cached is None:
        pretrain_cache.store(key, *holder["pretrained"])
    result = collect(holder["world"], holder["rounds"], holder["round_clients"], holder["versions"])
    write_run(result, str(context.run_config.get("out", f"runs/{scenario.name}-flwr")))
