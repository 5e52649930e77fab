"""Gym env throughput: edgefed/Offload-v0 steps per wall-second with a random agent, beside the engine's own speed.

One episode of the scenario (default scenarios/congested.yaml, federation off) through gymnasium.make (its
default wrappers included), actions from action_space.sample(); then the plain World on the same scenario and
seed with the `random` policy (uniform over local/edge/cloud, as the agent), timed the same way as bench/engine.py.
Usage: python bench/gym.py [--scenario PATH] [--seed N]
The last line is a JSON object: steps_per_s, engine_requests_per_s, their ratio, steps, requests.
"""
from __future__ import annotations

import argparse
import json
import time

import gymnasium

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="scenarios/congested.yaml")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    steps, steps_per_s = env_rate(args.scenario, args.seed)
    requests, requests_per_s = engine_rate(args.scenario, args.seed)
    print(f"{steps} env steps at {steps_per_s:.0f}/s; engine {requests} requests at {requests_per_s:.0f}/s")
    print(json.dumps({"scenario": args.scenario, "steps": steps, "steps_per_s": round(steps_per_s),
                      "requests": requests, "engine_requests_per_s": round(requests_per_s),
                      "ratio": round(steps_per_s / requests_per_s, 3)}))


if __name__ == "__main__":
    main()
