"""DVFS: each governed device's CPU runs at one step of its profile's P-state table at a time.

A step sets three entries of the per-device tables the request path already reads: the Fleet's
local_compute_s and flops_per_s (the top step is the profile's rate, a step f computes f / f_top as fast) and
FleetEnergy's dynamic_w (the table's active_w at that step, minus idle). Serving is unchanged: a request
computed locally costs the step in force when it is admitted. Governors change steps from outside the
request path: performance, powersave and userspace (at a frequency) set one step for the whole run; ondemand
and schedutil are one SimPy process per fleet entry that reads each device's utilisation every sampling
window. A policy may set the step per request by returning (target, step index). A step change stalls the
device's cores for the table's transition latency (no energy beyond idle is charged for it).

Utilisation over a window is the CPU work executed in it over cores x window: work admitted to the FIFO
(busy_s, stalls included) minus the backlog still ahead of the cores at each end of the window.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from sim.catalogue import PStates

SCHEDUTIL_HEADROOM = 1.25  # Linux schedutil: next_freq = 1.25 * f_max * util (kernel/sched/cpufreq_schedutil.c)
DYNAMIC = ("ondemand", "schedutil")  # the governors that change steps as the run goes


def lowest_step_at_least(steps_hz: tuple[float, ...], target_hz: float) -> int:
    """The slowest step at or above target (cpufreq's CPUFREQ_RELATION_L), the top one if none is."""
    for k, f in enumerate(steps_hz):
        if f >= target_hz:
            return k
    return len(steps_hz) - 1


def nearest_step(steps_hz: tuple[float, ...], target_hz: float) -> int:
    """The step closest to target, the slower one on a tie (cpufreq's CPUFREQ_RELATION_C)."""
    return min(range(len(steps_hz)), key=lambda k: (abs(steps_hz[k] - target_hz), k))


def ondemand_step(steps_hz: tuple[float, ...], load: float, up_threshold: float) -> int:
    """Linux ondemand (drivers/cpufreq/cpufreq_ondemand.c, od_update): the load in whole percent; above the
    threshold jump to the top, else the step nearest f_min + load x (f_max - f_min)."""
    percent = int(load * 100.0 + 1e-9)  # the kernel's integer load; 1e-9: 0.5 x 100 is 50, not 49
    if percent > up_threshold * 100.0:
        return len(steps_hz) - 1
    low, high = steps_hz[0], steps_hz[-1]
    return nearest_step(steps_hz, low + percent * (high - low) / 100.0)


def schedutil_step(steps_hz: tuple[float, ...], load: float, current: int) -> int:
    """Linux schedutil: frequency-invariant utilisation (load x f_cur / f_max) with 25% headroom."""
    top = steps_hz[-1]
    return lowest_step_at_least(steps_hz, SCHEDUTIL_HEADROOM * top * load * steps_hz[current] / top)


class Dvfs:
    """The governed devices' steps, the time each spent at each step, and the governors that move them."""

    def __init__(self, world: Any):
        fleet, energy = world.fleet, world.energy
        self.fleet, self.energy, self.env = fleet, energy, world.env
        self.governors = [g.governor for g in world.scenario.fleet]
        self.governed = [d.index for d in fleet.devices
                         if self.governors[d.group] is not None and self.governors[d.group].uses_table]
        self.table: dict[int, PStates] = {}
        self.compute_s: dict[int, list[float]] = {}  # per device, per step
        self.flops_per_s: dict[int, list[float]] = {}
        self.dynamic_w: dict[int, list[float]] = {}
        self.step: dict[int, int] = {}
        self.residency_s: dict[int, list[float]] = {}
        self.transitions: dict[int, int] = {}
        self._since: dict[int, float] = {}
        self._stalled_s: dict[int, float] = {}
        self._done_s: dict[int, float] = {}  # work executed by the last sample
        # each device's step changes: from when (s), the local compute time (s) from then on; World.table() reads
        # a row's compute time from them by its arrival time (a change at t is in force for arrivals at t: the
        # governors are SimPy events, which go before the calendar's arrivals at equal times)
        self._changed_at: dict[int, list[float]] = {}
        self._compute_from: dict[int, list[float]] = {}
        flops = fleet.flops_per_inference
        for dev in self.governed:
            profile = fleet.devices[dev].profile
            table = profile.pstates
            top = table.frequency_hz[-1]
            # the same expressions Fleet uses for a cpu_scale: rate x (f / f_top), then FLOPs over rate
            speeds = [profile.lstm_flops_per_s * (f / top) for f in table.frequency_hz]
            self.table[dev] = table
            self.flops_per_s[dev] = speeds
            self.compute_s[dev] = [flops / speed for speed in speeds]
            self.dynamic_w[dev] = [w - profile.idle_w for w in table.active_w]
            self.residency_s[dev] = [0.0] * len(speeds)
            self.transitions[dev], self._since[dev], self._stalled_s[dev], self._done_s[dev] = 0, 0.0, 0.0, 0.0
            self.step[dev] = -1
            self._apply(dev, self._first_step(self.governors[fleet.devices[dev].group], table))
            self._changed_at[dev], self._compute_from[dev] = [-np.inf], [fleet.local_compute_s[dev]]
        self.serving = None

    @staticmethod
    def _first_step(governor: Any, table: PStates) -> int:
        if governor.name == "powersave":
            return 0
        if governor.name == "userspace":
            return table.frequency_hz.index(governor.frequency)
        return len(table.frequency_hz) - 1  # performance, and the dynamic ones start at the top (as Linux boots)

    def _apply(self, dev: int, step: int) -> None:
        self.step[dev] = step
        self.fleet.local_compute_s[dev] = self.compute_s[dev][step]
        self.fleet.flops_per_s[dev] = self.flops_per_s[dev][step]
        self.energy.dynamic_w[dev] = self.dynamic_w[dev][step]

    # --- changing steps ----------------------------------------------------------------------------
    def set_step(self, dev: int, step: int, now: float) -> None:
        """Device `dev` runs at step `step` from now: its cores stall for the transition latency."""
        if dev not in self.table:
            raise ValueError(f"device {dev} has no P-state table under a governor: a policy set its step")
        if not 0 <= step < len(self.compute_s[dev]):
            raise ValueError(f"step {step} of device {dev}: its table has steps 0..{len(self.compute_s[dev]) - 1}")
        if step == self.step[dev]:
            return
        self.residency_s[dev][self.step[dev]] += now - self._since[dev]
        self._since[dev] = now
        self.transitions[dev] += 1
        self._apply(dev, step)
        self._changed_at[dev].append(now)
        self._compute_from[dev].append(self.fleet.local_compute_s[dev])
        cpu, stall = self.fleet.cpu[dev], self.table[dev].transition_s
        if stall > 0.0:
            free_at = cpu.free_at  # a heap; max(t, now) + stall keeps its order
            for i, t in enumerate(free_at):
                free_at[i] = (t if t > now else now) + stall
            self._stalled_s[dev] += stall * cpu.cores
        if self.serving is not None:
            self.serving.moved(dev)  # its observation's compute time and power follow the step

    def _govern(self, group: int, members: list[int]):
        """One fleet entry's ondemand or schedutil governor: sample each device's load, choose, set, every window.

        Once per window per device, so the loop is written for speed: ondemand's choice depends on the whole
        percent of load only, so it is a lookup (101 entries, one table per fleet entry: one profile); the
        device's step is set only when it changes."""
        governor = self.governors[group]
        window, steps = governor.sampling, self.table[members[0]].frequency_hz
        ondemand = governor.name == "ondemand"
        by_percent = [ondemand_step(steps, p / 100.0, governor.up_threshold) for p in range(101)]
        cpus, stalled, done_s, current = self.fleet.cpu, self._stalled_s, self._done_s, self.step
        while True:
            yield self.env.timeout(window)
            now = self.env._now
            for dev in members:
                cpu = cpus[dev]
                done = cpu.busy_s + stalled[dev]
                for t in cpu.free_at:
                    if t > now:
                        done -= t - now
                load = (done - done_s[dev]) / (cpu.cores * window)
                done_s[dev] = done
                load = 0.0 if load < 0.0 else 1.0 if load > 1.0 else load
                step = by_percent[int(load * 100.0 + 1e-9)] if ondemand else schedutil_step(steps, load, current[dev])
                if step != current[dev]:
                    self.set_step(dev, step, now)

    # --- wiring -----------------------------------------------------------------------------------
    def start(self, serving: Any) -> None:
        """Start one governor process per fleet entry whose governor changes steps."""
        self.serving = serving
        for g, governor in enumerate(self.governors):
            members = [dev for dev in self.governed if self.fleet.devices[dev].group == g]
            if governor is not None and governor.name in DYNAMIC and members:
                self.env.process(self._govern(g, members))

    def local_compute_s(self, device: np.ndarray, arrival_s: np.ndarray, static: np.ndarray) -> np.ndarray:
        """Each row's local compute time: the one in force at its arrival (its device's, if it never changed)."""
        out = static[device]
        changed = [dev for dev in self.governed if len(self._changed_at[dev]) > 1]
        if not changed:
            return out
        out = out.copy()
        order = np.argsort(device, kind="stable")
        by_device = device[order]
        for dev in changed:
            lo, hi = np.searchsorted(by_device, [dev, dev + 1])
            rows = order[lo:hi]
            k = np.searchsorted(self._changed_at[dev], arrival_s[rows], side="right") - 1
            out[rows] = np.asarray(self._compute_from[dev])[k]
        return out

    def close(self, end_s: float) -> None:
        for dev in self.governed:
            self.residency_s[dev][self.step[dev]] += end_s - self._since[dev]
            self._since[dev] = end_s

    def device_columns(self, dev: int, frequencies_hz: list[float]) -> dict:
        """devices.csv: the governor, step changes, and seconds at each frequency of the fleet's tables."""
        governor = self.governors[self.fleet.devices[dev].group]
        row = {"governor": governor.name if governor is not None else "", "dvfs_transitions": self.transitions.get(dev, 0)}
        table = self.table.get(dev)
        for f in frequencies_hz:
            k = table.frequency_hz.index(f) if table is not None and f in table.frequency_hz else None
            row[f"time_at_{f / 1e6:g}mhz_s"] = self.residency_s[dev][k] if k is not None else None
        return row

    def frequencies_hz(self) -> list[float]:
        return sorted({f for dev in self.governed for f in self.table[dev].frequency_hz})


class StepDecisions:
    """A policy that sets steps, seen by the request path: the step of a (target, step) decision is applied
    before the request is served, and the target goes on."""

    def __init__(self, policy: Any, dvfs: Dvfs):
        self.policy, self._dvfs = policy, dvfs
        self._decide = policy.decide
        self.uses_observation = True  # the device and the time come with the observation
        self.uses_outcomes = getattr(policy, "uses_outcomes", True)

    def decide(self, obs: Any) -> int:
        decision = self._decide(obs)
        if decision.__class__ is tuple:
            decision, step = decision
            self._dvfs.set_step(obs.device, step, obs.now)
        return decision

    def __getattr__(self, name: str) -> Any:  # name, observe, params, ...: the policy's own
        return getattr(self.policy, name)


def wrap_policy(dvfs: Dvfs | None, policy: Any) -> Any:
    """The policy the request path calls; a policy that sets steps needs devices with a table governor."""
    sets_steps = getattr(policy, "sets_dvfs_step", False)
    if dvfs is not None:
        return StepDecisions(policy, dvfs) if sets_steps else policy
    if sets_steps:
        raise ValueError(f"policy {policy.name!r} sets DVFS steps: give the fleet entries a `governor:` whose "
                         "profile has a P-state table (e.g. raspberry-pi-4 with governor userspace at a frequency)")
    return policy


def setup(world: Any) -> Dvfs | None:
    """Accelerator power for the devices whose profile has one; the DVFS state if any entry has a table governor."""
    energy = world.energy
    for d in world.fleet.devices:
        accelerator = d.profile.accelerator
        if accelerator is not None:  # local inference (and training) runs on it, at its power
            energy.dynamic_w[d.index] = accelerator.active_w - d.profile.idle_w
    governed = any(g.governor is not None and g.governor.uses_table for g in world.scenario.fleet)
    return Dvfs(world) if governed else None
