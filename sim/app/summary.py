"""Headline metrics of a run and the per-device energy table, computed from the recorded columns."""
from __future__ import annotations

import numpy as np

from sim.energy import ACTIVE_COMPONENTS, COMPONENTS
from sim.policies import TARGET_NAMES
from clients.spec import MODEL_NAMES
from sim.recorder import SERVED, UNFINISHED


def _finite_mean(values: np.ndarray) -> float | None:
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else None


# the cost's weights, the defaults of edgefed/Offload-v0 (whose return is minus this cost: docs/rl.md)
COST_LAMBDA_ENERGY = 1.0  # per joule of device energy billed to the request
COST_MISS_PENALTY = 1.0  # per missed deadline


def request_costs(table: dict[str, np.ndarray], served: np.ndarray, lambda_energy: float = COST_LAMBDA_ENERGY,
                  miss_penalty: float = COST_MISS_PENALTY) -> np.ndarray:
    """Each served request's cost: latency/deadline + lambda_energy x (compute + radio J) + miss_penalty x missed,
    in float64 from the recorded float32 columns (sim.envs.offload credits exactly these terms)."""
    latency = table["latency_s"][served].astype(np.float64)
    deadline = table["deadline_s"][served].astype(np.float64)
    energy = table["energy_compute_j"][served].astype(np.float64) + table["energy_radio_j"][served]
    return latency / deadline + lambda_energy * energy + np.where(latency > deadline, miss_penalty, 0.0)


def summarize(table: dict[str, np.ndarray], energy_by_component: dict[str, list[float]], rounds: list[dict],
              policy: str, seed: int, duration_s: float) -> dict:
    return with_ledgers(request_figures(table), energy_by_component, rounds, policy, seed, duration_s)


def with_ledgers(figures: dict, energy_by_component: dict[str, list[float]], rounds: list[dict], policy: str,
                 seed: int, duration_s: float) -> dict:
    """The request figures (in memory: request_figures; streamed: sim.app.stream.Folded) with the run's
    identity, the devices' energy ledgers and the federation's rounds."""
    count = figures["served"]
    device_total = {c: float(np.sum(energy_by_component[c])) for c in energy_by_component}
    # the devices' ledgers above idle: the requests' own energy plus federated training and transfers
    device_active_j = sum(device_total[c] for c in ACTIVE_COMPONENTS)
    return {
        "policy": policy,
        "seed": seed,
        "simulated_s": duration_s,
        **figures,
        "device_energy_per_request_j": device_active_j / count if count else None,
        "device_energy_j": device_total,
        "fl_pretrain_rounds": sum(r["phase"].startswith("pretrain") for r in rounds),
        "fl_rounds": sum(r["phase"] == "deploy" for r in rounds),
        "fl_aggregated_updates": int(sum(r["aggregated"] for r in rounds if r["phase"] == "deploy")),
    }


def request_figures(table: dict[str, np.ndarray]) -> dict:
    """summary.json's figures over the request table held in memory."""
    served = table["dropped"] == SERVED
    latency = table["latency_s"][served]
    met = latency <= table["deadline_s"][served]
    # compute + radio (promotion, transfer and the tails it left) of each served request, summed in float64
    per_request_j = table["energy_compute_j"][served].astype(np.float64) + table["energy_radio_j"][served]
    errors = table["forecast_error"][served]
    baseline = table["baseline_error"][served]
    both = np.isfinite(errors) & np.isfinite(baseline)
    count = int(served.sum())
    unfinished = int(np.count_nonzero(table["dropped"] == UNFINISHED))
    return {
        "requests": int(len(served)),
        "served": count,
        "dropped": int(len(served) - count - unfinished),
        "unfinished": unfinished,
        "share_by_target": {name: float(np.mean(table["target"][served] == i)) if count else 0.0
                            for i, name in enumerate(TARGET_NAMES)},
        "latency_mean_s": float(latency.mean()) if count else None,
        "latency_p95_s": float(np.percentile(latency, 95)) if count else None,
        "deadline_miss_rate": float(1.0 - met.mean()) if count else None,
        "energy_per_request_j": float(per_request_j.mean()) if count else None,
        "bytes_offloaded": float(table["bytes_up"][served].sum()),
        # the summed cost of the served requests (request_costs): minus edgefed/Offload-v0's return
        "cost": float(request_costs(table, served).sum()),
        "forecast_scored": int(both.sum()),
        "forecast_mse": _finite_mean(errors[both] ** 2),
        "forecast_mae": _finite_mean(np.abs(errors[both])),
        "persistence_mse": _finite_mean(baseline[both] ** 2),
        "persistence_mae": _finite_mean(np.abs(baseline[both])),
        "forecast_mse_by_model": {name: _finite_mean(errors[both & (table["model"][served] == i)] ** 2)
                                  for i, name in enumerate(MODEL_NAMES) if (table["model"][served] == i).any()},
    }


def kwh_errors(errors_z: np.ndarray, device: np.ndarray, std_kwh: np.ndarray) -> dict:
    """RMSE and MAE in kWh per hour of z-scored errors: each device's error times its own household's standard
    deviation (the series are z-scored per device, so ``(pred - mean)/std - (y - mean)/std = (pred - y)/std``).
    Non-finite errors are left out; ``None`` when none is left."""
    errors = np.asarray(errors_z, np.float64) * np.asarray(std_kwh, np.float64)[np.asarray(device)]
    errors = errors[np.isfinite(errors)]
    if not len(errors):
        return {"rmse_kwh": None, "mae_kwh": None, "scored": 0}
    return {"rmse_kwh": float(np.sqrt(np.mean(errors ** 2))), "mae_kwh": float(np.mean(np.abs(errors))),
            "scored": int(len(errors))}


def local_inference(table: dict[str, np.ndarray], local: int) -> dict:
    """Latency and device energy of the requests served on the device itself (seconds, joules, means)."""
    rows = (table["dropped"] == SERVED) & (table["target"] == local)
    if not rows.any():
        return {"requests": 0, "latency_mean_s": None, "energy_j": None}
    return {"requests": int(rows.sum()), "latency_mean_s": float(table["latency_s"][rows].mean()),
            "energy_j": float((table["energy_compute_j"][rows].astype(np.float64) + table["energy_radio_j"][rows]).mean())}


def device_rows(world, counts: tuple[np.ndarray, np.ndarray] | None = None) -> list[dict]:
    """One row per device: class, link, requests, death time and energy by component (joules); `counts`:
    requests and served per device, when the table was streamed (sim.app.stream.Folded)."""
    if counts is None:
        table = world.table()
        counts = (np.bincount(table["device"], minlength=world.n_devices),
                  np.bincount(table["device"][table["dropped"] == SERVED], minlength=world.n_devices))
    requests, served = counts
    rows = []
    dvfs = getattr(world, "dvfs", None)  # governors: steps changed and seconds at each frequency
    frequencies = dvfs.frequencies_hz() if dvfs is not None else []
    for d in world.devices:
        row = {"device": d.index, "group": d.group, "profile": d.profile.name, "link": d.link.name,
               "requests": int(requests[d.index]), "served": int(served[d.index]),
               "battery_j": world.energy.capacity_j[d.index], "death_s": world.energy.death_s[d.index],
               "model_version": world.fleet.model_version[d.index]}
        for c in COMPONENTS:
            row[f"energy_{c}_j"] = world.energy.spent[c][d.index]
        row["energy_total_j"] = sum(world.energy.spent[c][d.index] for c in COMPONENTS)
        if dvfs is not None:
            row.update(dvfs.device_columns(d.index, frequencies))
        rows.append(row)
    return rows
