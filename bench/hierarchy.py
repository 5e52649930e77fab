"""Flat against hierarchical FL on one scenario: held-out MSE against simulated time, and the WAN bytes spent.

Runs scenarios/hierarchical-fl.yaml (or the file given) three ways through Flower: hierarchical as written;
flat with the same devices and as many clients a round (clients per site x sites), no hierarchy; and flat with
the site model caches on. Each global version's held-out MSE (versions.csv's 48 hours) is paired with the
simulated time it was aggregated; WAN bytes are the sites' WAN links' byte counters (the scenario's policy
keeps requests local, so they count federation traffic only).
Usage: PYTHONPATH=. python bench/hierarchy.py [scenario.yaml]
The last line is a JSON object with the three runs' curves and bytes.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim import scenario as scenarios  # noqa: E402
from sim.app.runner import run_federated  # noqa: E402


def variants(hierarchical: scenarios.Scenario) -> dict[str, scenarios.Scenario]:
    fed = hierarchical.federation
    sites = len(hierarchical.sites)
    flat = fed.model_copy(update={"hierarchy": None, "clients_per_round": fed.clients_per_round * sites})
    return {"hierarchical": hierarchical,
            "flat": hierarchical.model_copy(update={"federation": flat}),
            "flat+cache": hierarchical.model_copy(update={"federation": flat.model_copy(update={"edge_cache": True})})}


def curve(out: dict) -> list[tuple[float, int, float]]:
    """(simulated s the version was aggregated, version, held-out MSE) for every global version after the first."""
    when = {}
    for row in out["rounds"]:
        if row["phase"] != "deploy" or row.get("level", "cloud") != "cloud":
            continue
        when.setdefault(row["model_version"], row.get("end_s", row["deadline_s"]))
    mse = {v["model_version"]: v["mse"] for v in out["versions"] if v["model"] == "edge"}
    return [(when.get(v, 0.0), v, mse[v]) for v in sorted(mse)]


def wan_bytes(world) -> dict[str, float]:
    sites = world.topology.sites
    return {"up": sum(s.wan_up.counters()[1] for s in sites), "down": sum(s.wan_down.counters()[1] for s in sites)}


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "scenarios" / "hierarchical-fl.yaml")
    results = {}
    for name, scenario in variants(scenarios.load(path)).items():
        started = time.perf_counter()
        out = run_federated(scenario)
        results[name] = {"curve": curve(out), "wan_bytes": wan_bytes(out["world"]), "wall_s": time.perf_counter() - started,
                         "device_trainings": sum(r["status"] == "aggregated" for r in out["round_clients"])}
    target = results["flat"]["curve"][-1][2]
    for name, r in results.items():
        reached = [t for t, v, mse in r["curve"] if v > 0 and mse <= target]
        r["time_to_flat_final_mse_s"] = min(reached) if reached else None
        first, last = r["curve"][0][2], r["curve"][-1][2]
        total = r["wan_bytes"]["up"] + r["wan_bytes"]["down"]
        r["wan_bytes_per_mse_gain"] = total / (first - last) if first > last else None
        print(f"{name:>13}: MSE {first:.4f} (v0) -> {last:.4f} (v{r['curve'][-1][1]}), reaches flat's final "
              f"{target:.4f} at {r['time_to_flat_final_mse_s']} s; WAN up {r['wan_bytes']['up'] / 1e6:.2f} MB, "
              f"down {r['wan_bytes']['down'] / 1e6:.2f} MB; {r['device_trainings']} device updates aggregated; "
              f"wall {r['wall_s']:.0f} s")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
