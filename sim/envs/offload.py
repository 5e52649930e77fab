"""`edgefed/Offload-v0`: a Gymnasium environment in which one step is the offload decision of one request.

The world is the ordinary World with federation off, its policy replaced by an agent stand-in: when a
request arrives, the stand-in's decide() raises out of SimPy's event loop (no threads); step(action)
serves that request on the chosen target (Serving.dispatch) and runs the world's calendar until the
next request needs a decision.

- observation: sim.policies.features of the deciding device's Observation, a Box of DIM float32 entries
  in [0, CLIP] (sim/policies/features.py documents each entry).
- action: Discrete(3): 0 local, 1 edge, 2 cloud.
- reward: minus the cost of each outcome, as linucb defines it,
  cost = latency_s / deadline_s + lambda_energy x energy_j + (miss_penalty if latency_s > deadline_s),
  energy_j being the device's compute joules (local) or the radio joules up to the reply (offloaded; the
  tail that follows is not known yet). Delayed credit: a step's reward is the cost of every outcome that
  completed during it (the request it decided, if local, and replies delivered before the next decision),
  so an episode's return is minus the total cost of its served requests; `info` names those requests.
  Requests still in flight when the episode ends are never credited (the run marks them unfinished).
- episode: the scenario's duration; reset(seed=s) reruns the scenario with seed s, bit for bit.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import simpy
from gymnasium import spaces
from simpy.events import URGENT

from sim import scenario as scenarios
from sim.policies.features import CLIP, DIM, features
from sim.world import World


class _Decision(Exception):
    """A request waits for the agent's action (raised out of the event loop)."""


class _EpisodeEnd(Exception):
    """Simulated time reached the scenario's duration."""


def _end_episode(_: simpy.Event) -> None:
    raise _EpisodeEnd


class AgentPolicy:
    """The World's policy inside the env: decide() pauses the world; observe() adds the outcome to the step's cost."""

    name = "agent"
    uses_observation = True
    uses_outcomes = True

    def __init__(self, lambda_energy: float, miss_penalty: float):
        self.lambda_energy, self.miss_penalty = lambda_energy, miss_penalty
        self.obs: Any = None
        self.deadline: dict[int, float] = {}  # request -> its deadline, until its outcome
        self.begin_step()

    def begin_step(self) -> None:
        self.cost = 0.0
        self.requests: list[int] = []
        self.latency_s: list[float] = []
        self.energy_j: list[float] = []
        self.deadline_met: list[bool] = []

    def decide(self, obs: Any) -> int:
        self.obs = obs
        self.deadline[obs.request] = obs.deadline_s
        raise _Decision

    def observe(self, target: int, latency_s: float, energy_j: float, met_deadline: bool, request: int) -> None:
        deadline = self.deadline.pop(request)
        self.cost += latency_s / max(deadline, 1e-6) + self.lambda_energy * energy_j \
            + (0.0 if met_deadline else self.miss_penalty)
        self.requests.append(request)
        self.latency_s.append(latency_s)
        self.energy_j.append(energy_j)
        self.deadline_met.append(met_deadline)


class OffloadEnv(gymnasium.Env):
    """One request's offload decision per step on a scenario's world (module docstring: spaces, reward, episode)."""

    metadata = {"render_modes": []}

    def __init__(self, scenario: str | Path | scenarios.Scenario, seed: int | None = None,
                 lambda_energy: float = 1.0, miss_penalty: float = 1.0):
        loaded = scenario if isinstance(scenario, scenarios.Scenario) else scenarios.load(scenario)
        # federation off keeps steps cheap (and the episode independent of Flower)
        self._scenario = scenarios.with_overrides(loaded, federation=False, source=str(scenario))
        self._seed = self._scenario.seed if seed is None else int(seed)
        self._seeded = False
        self.lambda_energy, self.miss_penalty = float(lambda_energy), float(miss_penalty)
        self.observation_space = spaces.Box(0.0, CLIP, (DIM,), np.float32)
        self.action_space = spaces.Discrete(3)
        self.world: World | None = None
        self._running = False  # step() before reset() is refused
        self._terminal = np.zeros(DIM, np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        if seed is None and not self._seeded:
            seed = self._seed  # the first episode: the constructor's seed (or the scenario's)
        super().reset(seed=seed)
        self._seeded = True
        # reset() without a seed: the next episode of a seeded sequence
        episode_seed = int(seed) if seed is not None else int(self.np_random.integers(2**31))
        scenario = self._scenario if episode_seed == self._scenario.seed else \
            self._scenario.model_copy(update={"seed": episode_seed})
        self._agent = agent = AgentPolicy(self.lambda_energy, self.miss_penalty)
        self.world = world = World(scenario, policy=agent)
        env = world.env
        end = simpy.Event(env)  # URGENT: before anything else at the end time, as env.run(until=) does
        end._ok, end._value = True, None
        end.callbacks.append(_end_episode)
        env.schedule(end, URGENT, world.duration_s)
        self._step_sim, self._dispatch = env.step, world.serving.dispatch
        self._running = self._advance()
        info = {"request": agent.obs.request, "device": agent.obs.device} if self._running else {}
        return (features(agent.obs) if self._running else self._terminal.copy()), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if not self._running:
            raise RuntimeError("no episode is running: call reset()")
        agent = self._agent
        obs = agent.obs
        agent.begin_step()
        decided = obs.request
        self._dispatch(decided, obs.device, int(action), obs.now)
        self._running = running = self._advance()
        info = {"decided": decided, "requests": agent.requests, "latency_s": agent.latency_s,
                "energy_j": agent.energy_j, "deadline_met": agent.deadline_met}
        return (features(agent.obs) if running else self._terminal.copy()), -agent.cost, not running, False, info

    def _advance(self) -> bool:
        """Run the world until a request waits for a decision (True) or the episode ends (False)."""
        step = self._step_sim
        try:
            while True:
                step()
        except _Decision:
            return True
        except _EpisodeEnd:
            self._finish()
            return False

    def _finish(self) -> None:
        """What World.run does after its last slice: the final samples, energy to the end, unfinished rows."""
        world = self.world
        if world.scenario.output.links or world.scenario.output.battery:
            world._take_sample()
        world.energy.close(world.duration_s)
        world.recorder.mark_unfinished()
