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


def _energy_aware(world, fed, rng, alive: list[int], now: float) -> tuple[list[int], int]:
    """Powered devices first (in random order), then battery devices above the floor, fullest first."""
    k = fed.clients_per_round
    powered = [d for d in alive if world.energy.capacity_j[d] is None]
    charged = [d for d in alive if world.energy.capacity_j[d] is not None
               and world.energy.soc(d, now) >= fed.min_battery_soc]
    ranked = list(rng.permutation(powered)) + sorted(charged, key=lambda d: (-world.energy.soc(d, now), d))
    return sorted(int(d) for d in ranked[:k]), k


def _at_random(world, fed, rng, alive: list[int], now: float, take: int | None = None) -> tuple[list[int], int]:
    k = fed.clients_per_round
    take = min(len(alive), k if take is None else take)
    chosen = rng.choice(alive, size=take, replace=False) if take else []
    return sorted(int(d) for d in chosen), k


def _fastest_k(world, fed, rng, alive: list[int], now: float) -> tuple[list[int], int]:
    """Over-commit k x overcommit at random; the coordinator keeps the k updates that arrive first."""
    return _at_random(world, fed, rng, alive, now, math.ceil(fed.clients_per_round * fed.overcommit))


def _available(world, fed, rng, alive: list[int], now: float) -> tuple[list[int], int]:
    """Online and idle, as production FL schedules devices, then at random."""
    return _at_random(world, fed, rng, [d for d in alive if world.cpu_wait_s(d) == 0.0], now)


# federation.selection -> (world, settings, rng, candidates, now) -> (devices to train, updates to keep)
SELECTIONS = {"random": _at_random, "energy-aware": _energy_aware, "fastest-k": _fastest_k,
              "availability": _available}


def select(world, fed, rng: np.random.Generator, availability: Availability = Always()) -> tuple[list[int], int]:
    """(devices to train, how many updates to keep): fastest-k over-commits and keeps the first k. Only the
    candidates are chosen from."""
    return SELECTIONS[fed.selection](world, fed, rng, candidates(world, availability), world.env.now)
