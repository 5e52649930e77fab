"""Client selection for a round, by scenario name: random, energy-aware, fastest-k, availability; or a subset
chosen outside (sim.envs.selection's agent) from the candidates.

A device whose RAM cannot hold the training of the deployed edge model is never selected
(sim.memory.exclusions says which and why; the run directory's exclusions.csv lists them)."""
from __future__ import annotations

import math

import numpy as np

from sim import memory
from sim.availability import Always, Availability


def candidates(world, availability: Availability = Always()) -> list[int]:
    """The devices that may train now: alive, able to hold the training in RAM, and allowed by `availability`
    (sim.availability)."""
    now = world.env.now
    cannot_train = memory.untrainable(world.scenario, world.scenario.models.edge.spec.deployed)
    return [d for d in range(world.n_devices) if world.alive(d) and d not in cannot_train
            and availability.available(d, now)]


def select(world, fed, rng: np.random.Generator, availability: Availability = Always()) -> tuple[list[int], int]:
    """(devices to train, how many updates to keep): fastest-k over-commits and keeps the first k. Only the
    candidates are chosen from."""
    now = world.env.now
    alive = candidates(world, availability)
    k = fed.clients_per_round
    if fed.selection == "energy-aware":
        # powered devices first (in random order), then battery devices above the floor, fullest first
        powered = [d for d in alive if world.energy.capacity_j[d] is None]
        charged = [d for d in alive if world.energy.capacity_j[d] is not None
                   and world.energy.soc(d, now) >= fed.min_battery_soc]
        ranked = list(rng.permutation(powered)) + sorted(charged, key=lambda d: (-world.energy.soc(d, now), d))
        return sorted(int(d) for d in ranked[:k]), k
    if fed.selection == "availability":  # online and idle, as production FL schedules devices
        alive = [d for d in alive if world.cpu_wait_s(d) == 0.0]
    take = min(len(alive), math.ceil(k * fed.overcommit) if fed.selection == "fastest-k" else k)
    chosen = rng.choice(alive, size=take, replace=False) if take else []
    return sorted(int(d) for d in chosen), k
