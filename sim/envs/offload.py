"""`edgefed/Offload-v0`: a Gymnasium environment in which one step is the offload decision of one request.

The world is the ordinary World with federation off, its policy replaced by an agent stand-in: when a
request arrives, the stand-in's decide() raises out of SimPy's event loop (no threads); step(action)
serves that request on the chosen target (Serving.dispatch) and runs the world's calendar until the
next request needs a decision.

- observation: sim.policies.features of the deciding device's Observation, a Box of DIM float32 entries
  in [0, CLIP] (sim/policies/features.py documents each entry); with `sites:`, SITE_FEATURES for every
  site follow (DIM + 3 x sites entries).
- action: Discrete(3): 0 local, 1 edge (the device's own site), 2 cloud; with `sites:`, Discrete(3 + sites),
  action 3 + k offloading to site k (sim.policies.base.site_target). A site the device's cell cannot reach
  is served by its own site instead (info["action_mask"] says which actions are real).
- reward: minus the cost of each served request, the cost `edgefed run` reports (sim/app/summary.py),
  cost = latency_s / deadline_s + lambda_energy x energy_j + (miss_penalty if latency_s > deadline_s),
  with the recorded (float32) latency and deadline and energy_j the device energy billed to the request:
  compute (local) or radio promotion, transfers and the tail its last transfer left (offloaded).
  Delayed credit: a step's reward is the cost of every outcome that completed during it (the request it
  decided, if local, and replies delivered before the next decision), plus the radio tails billed since to
  requests already credited (a tail is billed when the radio next starts, or at the end), so an episode's
  return is minus the run's cost (equal up to float rounding); `info` names those requests.
  Requests still in flight when the episode ends are never credited (the run marks them unfinished).
- episode: the scenario's duration; reset(seed=s) reruns the scenario with seed s, bit for bit.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from sim import scenario as scenarios
from sim.policies.base import EDGE, FIRST_SITE, LOCAL
from sim.policies.features import CLIP, DIM, SITE_FEATURES, features, site_features
from sim.envs.pause import Decision, end_at, run_until_decision
from sim.world import World


class AgentPolicy:
    """The World's policy inside the env: decide() pauses the world; observe() adds the outcome to the step's cost."""

    name = "agent"
    uses_observation = True
    uses_outcomes = True

    def __init__(self, lambda_energy: float, miss_penalty: float):
        self.lambda_energy, self.miss_penalty = lambda_energy, miss_penalty
        self.obs: Any = None
        self.recorder: Any = None  # the world's (attach)
        self.deadline_s: list[float] = []  # per device, as the request table records it (float32)
        # per device: (row, radio J credited) of its last credited offload, whose radio tail may be billed later
        self._tail_owner: dict[int, tuple[int, float]] = {}
        self.begin_step()

    def attach(self, world: World) -> None:
        """Read the recorded columns of `world` (after it is built: World calls a policy's bind() too early)."""
        self.recorder = world.recorder
        self.deadline_s = np.asarray(world.fleet.deadline_s, np.float32).tolist()

    def begin_step(self) -> None:
        self.cost = 0.0
        self.requests: list[int] = []
        self.latency_s: list[float] = []
        self.energy_j: list[float] = []
        self.deadline_met: list[bool] = []
        self.tail_j: list[tuple[int, float]] = []  # (row, joules) of tails billed to requests credited before

    def decide(self, obs: Any) -> int:
        self.obs = obs
        raise Decision

    def observe(self, target: int, latency_s: float, energy_j: float, met_deadline: bool, request: int) -> None:
        # the recorded values, not the arguments: the run's cost is computed from the same columns
        rec = self.recorder
        dev = int(rec.device[request])
        latency, deadline = float(rec.latency_s[request]), self.deadline_s[dev]
        radio = float(rec.energy_radio_j[request])
        energy = float(rec.energy_compute_j[request]) + radio
        missed = latency > deadline
        self.cost += latency / deadline + self.lambda_energy * energy + (self.miss_penalty if missed else 0.0)
        self.requests.append(request)
        self.latency_s.append(latency)
        self.energy_j.append(energy)
        self.deadline_met.append(not missed)
        if target != LOCAL:
            # this reply's radio start billed the tail of the device's previous credited offload, if it owned one
            self.settle_tail(dev)
            self._tail_owner[dev] = (request, radio)

    def settle_tail(self, dev: int) -> None:
        """Credit what was billed to device `dev`'s last credited offload since (its radio tail, if any)."""
        owner = self._tail_owner.pop(dev, None)
        if owner is None:
            return
        row, credited = owner
        billed = float(self.recorder.energy_radio_j[row]) - credited
        if billed:
            self.cost += self.lambda_energy * billed
            self.tail_j.append((row, billed))

    def settle_all(self) -> None:
        for dev in list(self._tail_owner):
            self.settle_tail(dev)


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
        self.n_sites = len(self._scenario.sites)  # 0 without `sites:`: today's spaces
        dim = DIM + len(SITE_FEATURES) * self.n_sites
        self.observation_space = spaces.Box(0.0, CLIP, (dim,), np.float32)
        self.action_space = spaces.Discrete(FIRST_SITE + self.n_sites if self.n_sites else 3)
        self.world: World | None = None
        self._running = False  # step() before reset() is refused
        self._terminal = np.zeros(dim, np.float32)

    @property
    def decision(self) -> Any:
        """The Observation of the request waiting for an action (what a fixed policy would decide on)."""
        return self._agent.obs if self._running else None

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
        agent.attach(world)
        env = world.env
        end_at(env, world.duration_s)
        self._step_sim, self._dispatch = env.step, world.serving.dispatch
        self._routes = world.topology.routes
        self._running = self._advance()
        info = {"request": agent.obs.request, "device": agent.obs.device} if self._running else {}
        if self._running and self.n_sites:
            info["action_mask"] = self._mask(agent.obs.device)
        return self._observe(), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if not self._running:
            raise RuntimeError("no episode is running: call reset()")
        agent = self._agent
        obs = agent.obs
        agent.begin_step()
        decided, target = obs.request, int(action)
        if target >= FIRST_SITE and self._routes[obs.device][target] is None:
            target = EDGE  # a site its cell cannot reach: the device's own (info["action_mask"])
        self._dispatch(decided, obs.device, target, obs.now)
        self._running = running = self._advance()
        info = {"decided": decided, "requests": agent.requests, "latency_s": agent.latency_s,
                "energy_j": agent.energy_j, "deadline_met": agent.deadline_met, "tail_j": agent.tail_j}
        if running and self.n_sites:
            info["action_mask"] = self._mask(agent.obs.device)
        return self._observe(), -agent.cost, not running, False, info

    def _observe(self) -> np.ndarray:
        if not self._running:
            return self._terminal.copy()
        obs = self._agent.obs
        if not self.n_sites:
            return features(obs)
        return np.concatenate((features(obs), np.array(site_features(obs), np.float32)))

    def _mask(self, dev: int) -> np.ndarray:
        routes = self._routes[dev]
        return np.array([1, 1, 1] + [routes[FIRST_SITE + k] is not None for k in range(self.n_sites)], np.int8)

    def _advance(self) -> bool:
        """Run the world until a request waits for a decision (True) or the episode ends (False)."""
        return run_until_decision(self._step_sim, self._finish)

    def _finish(self) -> None:
        """What World.run does after its last slice: the final samples, energy to the end, unfinished rows;
        then the tails that closing billed to credited requests."""
        world = self.world
        if world.scenario.output.links or world.scenario.output.battery:
            world._take_sample()
        world.energy.close(world.duration_s)
        if world.mobility is not None:
            world.mobility.close(world.duration_s)
        world.recorder.mark_unfinished()
        self._agent.settle_all()
