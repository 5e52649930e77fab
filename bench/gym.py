"""Gym env throughput: edgefed/Offload-v0 steps per wall-second with a random agent, beside the engine's own speed;
with --selection, edgefed/Selection-v0's seconds per step, split into what its parts cost.

Offload: one episode of the scenario (default scenarios/congested.yaml, federation off) through gymnasium.make,
actions from action_space.sample(); then the plain World on the same scenario and seed with the `random` policy
(uniform over local/edge/cloud, as the agent), timed the same way as bench/engine.py.
Selection (default scenarios/quickstart.yaml, `--rounds` rounds): reset (pretraining through the ClientApps,
the held-out score of version 0) timed apart; then one episode, each step selecting clients_per_round random
devices; per step, the seconds in the ClientApps' training and in held-out scoring, measured in the same run.
Usage: python bench/gym.py [--scenario PATH] [--seed N] [--selection [--rounds N]]
The last line is a JSON object: Offload: steps_per_s, engine_requests_per_s, their ratio, steps, requests;
Selection: s_per_step, train_s_per_step, held_out_s_per_step, their shares of a step, reset_s, steps.
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Callable

import gymnasium
import numpy as np

import sim.envs  # noqa: F401  registers edgefed/Offload-v0
from sim import scenario as scenarios
from sim.world import World


def env_rate(scenario: str, seed: int) -> tuple[int, float]:
    env = gymnasium.make("edgefed/Offload-v0", scenario=scenario, seed=seed)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    sample, step = env.action_space.sample, env.step
    steps, done = 0, False
    started = time.perf_counter()
    while not done:
        _, _, done, _, _ = step(sample())
        steps += 1
    return steps, steps / (time.perf_counter() - started)


def engine_rate(scenario: str, seed: int) -> tuple[int, float]:
    loaded = scenarios.with_overrides(scenarios.load(scenario), seed=seed, policy="random", federation=False)
    world = World(loaded)
    started = time.perf_counter()
    world.run()
    return world.recorder.size, world.recorder.size / (time.perf_counter() - started)


class Stopwatch:
    """Wraps a callable and adds up the wall seconds spent in it."""

    def __init__(self, fn: Callable):
        self.fn, self.seconds = fn, 0.0

    def __call__(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started


def selection_rates(path: str, seed: int, rounds: int) -> dict:
    """Selection-v0 on `path` with `rounds` rounds (the duration stretched to hold them): seconds per step and
    the ClientApps' and the held-out scoring's shares of it."""
    loaded = scenarios.load(path)
    fed = loaded.federation
    data = loaded.model_dump(mode="json")
    data["federation"]["rounds"] = rounds
    data["duration"] = f"{max(loaded.duration, fed.first_round_at + rounds * fed.every)}s"
    scenario = scenarios.parse(data, path)
    env = gymnasium.make("edgefed/Selection-v0", scenario=scenario, seed=seed).unwrapped
    started = time.perf_counter()
    env.reset(seed=seed)
    reset_s = time.perf_counter() - started
    env.driver.fleet.train = train = Stopwatch(env.driver.fleet.train)
    env._held_out = held_out = Stopwatch(env._held_out)  # the instance's, in front of the method
    rng, n, k = np.random.default_rng(seed), scenario.device_count, fed.clients_per_round
    steps, done = 0, False
    started = time.perf_counter()
    while not done:
        action = np.zeros(n, np.int8)
        action[rng.choice(n, size=min(k, n), replace=False)] = 1
        _, _, done, _, _ = env.step(action)
        steps += 1
    per_step = (time.perf_counter() - started) / steps
    return {"scenario": path, "devices": n, "clients_per_round": k, "steps": steps, "reset_s": round(reset_s, 2),
            "s_per_step": round(per_step, 3), "train_s_per_step": round(train.seconds / steps, 3),
            "held_out_s_per_step": round(held_out.seconds / steps, 3),
            "train_share": round(train.seconds / steps / per_step, 3),
            "held_out_share": round(held_out.seconds / steps / per_step, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=None, help="default: congested.yaml, or quickstart.yaml with --selection")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--selection", action="store_true", help="time edgefed/Selection-v0 instead")
    parser.add_argument("--rounds", type=int, default=4, help="with --selection: FL rounds (steps) in the episode")
    args = parser.parse_args()
    if args.selection:
        figures = selection_rates(args.scenario or "scenarios/quickstart.yaml", args.seed, args.rounds)
        print(f"{figures['steps']} Selection-v0 steps at {figures['s_per_step']} s each (ClientApps' training "
              f"{figures['train_share']:.0%}, held-out scoring {figures['held_out_share']:.0%}); "
              f"reset {figures['reset_s']} s")
        print(json.dumps(figures))
        return
    args.scenario = args.scenario or "scenarios/congested.yaml"
    steps, steps_per_s = env_rate(args.scenario, args.seed)
    requests, requests_per_s = engine_rate(args.scenario, args.seed)
    print(f"{steps} env steps at {steps_per_s:.0f}/s; engine {requests} requests at {requests_per_s:.0f}/s")
    print(json.dumps({"scenario": args.scenario, "steps": steps, "steps_per_s": round(steps_per_s),
                      "requests": requests, "engine_requests_per_s": round(requests_per_s),
                      "ratio": round(steps_per_s / requests_per_s, 3)}))


if __name__ == "__main__":
    main()
