"""`edgefed/Selection-v0`: a Gymnasium environment in which one step is the client selection of one FL round.

The world is the ordinary World with synchronous federation; its round coordinator (server/coordinator.py)
asks this env for each round's devices through its `choose` seam: a generator that pauses SimPy's event
loop (sim/envs/pause.py, no threads) until step(action) names them. The coordinator then trains them
(Flower ClientApps), replays the round in simulated time, aggregates with the scenario's Flower strategy and
publishes the model; the world runs on, requests and all, until the next round's selection.

- observation: Box(0, CLIP, (devices, 7)) float32, one row per device (SELECTION_FEATURES).
- action: MultiBinary(devices): 1 selects the device. Only candidates train (alive, able to hold the training,
  available: server.selection.candidates); the others are ignored, and an empty subset runs no training.
  Every update that beats the round deadline is aggregated.
- reward: held-out accuracy gain minus an energy cost,
  reward = MSE(model before) - MSE(model after) - lambda_energy x training J,
  MSE on HELD_OUT_HOURS right after the episode (hours no model version trains on), z-scored, every device,
  sim.forecasts.score_versions; 0 gain when nothing was aggregated. Training J: the compute energy of each
  selected device's local training (its CPU's power above idle for the training time), billed at the step
  the round's row appears (round_clients); the update's radio energy is left out (the device ledgers mix it
  with the requests'). Credit: a step's reward belongs to the round it selected for.
- episode: the scenario's duration (so at most federation.rounds steps); reset(seed=s) reruns it bit for bit.

The federation (coordinator, fleet of ClientApps) and the held-out evaluator are handed in: the engine does not
import server/ or Flower; sim/app/selection_env.py composes them (gymnasium.make builds it that way).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import gymnasium
import numpy as np
from gymnasium import spaces

from clients.spec import EDGE_MODEL
from sim import scenario as scenarios
from sim.envs.pause import end_at, pause_now, run_until_decision
from sim.forecasts import Evaluator, score_versions
from sim.policies.features import CLIP
from sim.world import World

# name and meaning of each device's entries, in order (docs/rl.md shows this table)
SELECTION_FEATURES = (
    ("available", "1 if the device may train now (alive, trainable, available), else 0"),
    ("battery_soc", "battery state of charge (1 for mains power)"),
    ("upload", "estimated upload time of an update at the measured uplink rate / round deadline"),
    ("train", "estimated local training time (one sample per hour of train_span) / round deadline"),
    ("cpu_wait", "time until the device CPU is free / round deadline"),
    ("staleness", "model versions the device's model lags the global one"),
    ("since_selected", "rounds since the device was last selected (CLIP: never)"),
)
FEATURES_PER_DEVICE = len(SELECTION_FEATURES)
LAMBDA_ENERGY = 1e-3  # reward lost per joule of training: 10 J of a Pi 4's training weigh 0.01 of held-out MSE


class RoundDriver(Protocol):
    """What the env needs of a round coordinator (server.coordinator.Coordinator)."""

    choose: Any  # the selection seam
    version: int
    rounds: list[dict]
    round_clients: list[dict]


class SelectionEnv(gymnasium.Env):
    """One FL round's client selection per step (module docstring: spaces, reward, episode)."""

    metadata = {"render_modes": []}

    def __init__(self, scenario: str | Path | scenarios.Scenario, federation: Callable[[World], RoundDriver],
                 evaluate: Evaluator, seed: int | None = None, lambda_energy: float = LAMBDA_ENERGY):
        loaded = scenario if isinstance(scenario, scenarios.Scenario) else scenarios.load(scenario)
        fed = loaded.federation
        where = str(scenario) if not isinstance(scenario, scenarios.Scenario) else loaded.name
        if not fed.enabled or fed.rounds < 1 or fed.mode != "sync" or fed.hierarchy is not None:
            raise ValueError(f"{where}: federation: Selection-v0 needs enabled: true, rounds >= 1, mode: sync "
                             "and no hierarchy")
        self._scenario, self._federation, self._evaluate = loaded, federation, evaluate
        self._seed = loaded.seed if seed is None else int(seed)
        self._seeded = False
        self.lambda_energy = float(lambda_energy)
        n = loaded.device_count
        self.observation_space = spaces.Box(0.0, CLIP, (n, FEATURES_PER_DEVICE), np.float32)
        self.action_space = spaces.MultiBinary(n)
        self.world: World | None = None
        self.driver: RoundDriver | None = None
        self._running = False
        self._terminal = np.zeros((n, FEATURES_PER_DEVICE), np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        if seed is None and not self._seeded:
            seed = self._seed
        super().reset(seed=seed)
        self._seeded = True
        episode_seed = int(seed) if seed is not None else int(self.np_random.integers(2**31))
        scenario = self._scenario if episode_seed == self._scenario.seed else \
            self._scenario.model_copy(update={"seed": episode_seed})
        self.world = world = World(scenario)
        self.driver = driver = self._federation(world)
        driver.choose = self._choose
        end_at(world.env, world.duration_s)
        self._mse: dict[int, float] = {}
        self._version = driver.version
        self._decided = 0  # rounds selected so far
        self._last_selected = [-math.inf] * world.n_devices
        self._billed = 0  # round_clients rows whose training energy is credited (in order)
        self._pending_rows: list[dict] = []  # rows seen before their training ended
        self._running = self._advance()
        return self._observe(), {"round": self._decided + 1, "held_out_mse": self._held_out(self._version)}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if not self._running:
            raise RuntimeError("no episode is running: call reset()")
        subset = [int(d) for d in np.flatnonzero(np.asarray(action))]
        self._decided += 1
        self._wanted.succeed(subset)
        self._running = running = self._advance()
        gain, version = 0.0, self.driver.version
        if version != self._version:
            gain = self._held_out(self._version) - self._held_out(version)
            self._version = version
        energy_j = self._training_j()
        row = next((r for r in reversed(self.driver.rounds) if r["phase"] == "deploy"
                    and r["round"] == self._decided), None)
        info = {"round": self._decided, "selected": subset, "trained": self._trained,
                "aggregated": row["aggregated"] if row else 0, "model_version": version,
                "held_out_mse": self._held_out(version), "gain": gain, "energy_j": energy_j,
                "now_s": self.world.env.now}
        return self._observe(), gain - self.lambda_energy * energy_j, not running, False, info

    # --- the coordinator's side ---------------------------------------------------------------
    def _choose(self, candidates: list[int]) -> Iterator[Any]:
        """The coordinator's selection: pause the world, wait for step()'s subset, keep its candidates."""
        self._candidates = set(candidates)
        self._wanted = self.world.env.event()
        pause_now(self.world.env)
        subset = yield self._wanted
        self._trained = chosen = [d for d in subset if d in self._candidates]
        for d in chosen:
            self._last_selected[d] = self._decided
        return chosen, len(chosen)

    def _advance(self) -> bool:
        """Run the world until the next round's selection (True) or the episode's end (False)."""
        return run_until_decision(self.world.env.step, self._finish)

    def _finish(self) -> None:
        """The episode's end: open radio tails and idle power charged, movement closed, open requests unfinished."""
        world = self.world
        world.energy.close(world.duration_s)
        if world.mobility is not None:
            world.mobility.close(world.duration_s)
        world.recorder.mark_unfinished()

    # --- what the agent sees and earns ----------------------------------------------------------
    def _observe(self) -> np.ndarray:
        if not self._running:
            return self._terminal.copy()
        world, fed = self.world, self.world.scenario.federation
        fleet, energy, now = world.fleet, world.energy, world.env.now
        per_deadline = 1.0 / fed.round_deadline
        train_flops = world.flops_per_train_sample * max(1.0, fed.train_span // 3600.0) * fed.local_epochs
        rows = np.empty((world.n_devices, FEATURES_PER_DEVICE), np.float64)
        for d in range(world.n_devices):
            rows[d] = (d in self._candidates, energy.soc(d, now),
                       world.update_bytes * 8.0 / fleet.up_bps[d] * per_deadline,
                       train_flops / fleet.flops_per_s[d] * per_deadline, fleet.cpu[d].wait_s(now) * per_deadline,
                       self.driver.version - fleet.model_version[d], self._decided + 1 - self._last_selected[d])
        return np.clip(np.nan_to_num(rows, posinf=CLIP), 0.0, CLIP).astype(np.float32)

    def _held_out(self, version: int) -> float:
        """Held-out MSE of global version `version` (sim.forecasts.score_versions), once per version."""
        if version not in self._mse:
            world = self.world
            rows = score_versions(self._evaluate, world.n_devices, {(EDGE_MODEL, version): world.versions[version]},
                                  int(world.duration_s // 3600))
            mse = rows[0]["mse"]
            self._mse[version] = float("nan") if mse is None else float(mse)
        return self._mse[version]

    def _training_j(self) -> float:
        """Compute joules of the local trainings started since the last step (World.train charges a training
        whole when it starts, and the coordinator notes its start and end in the device's round row)."""
        clients = self.driver.round_clients
        self._pending_rows += clients[self._billed:]  # a round's rows appear at its deadline
        self._billed = len(clients)
        dynamic_w, joules, waiting = self.world.energy.dynamic_w, 0.0, []
        for row in self._pending_rows:
            if not math.isnan(row["train_start_s"]):
                joules += dynamic_w[row["device"]] * (row["train_end_s"] - row["train_start_s"])
            elif row["status"] == "straggler":  # still downloading at the deadline: it may train later
                waiting.append(row)
        self._pending_rows = waiting
        return joules
