"""Mobility: moving devices re-attach to the nearest cell of their link kind in range, pay a handover
interruption on every cell change, and lose what they send while out of coverage.

One SimPy process per moving fleet entry steps its devices' positions (sim.movement) every `update` s and
compares each device's nearest cell in range (cell position and radius_m) with its current one; only the
devices whose cell changed touch Python lists. The request path sees a move as the topology's per-device
lists re-pointed in place (Topology.attach), so a world without mobility runs exactly the code it ran before.

- Handover (cell -> cell, or re-attaching after coverage came back): the device's radio cannot start a
  transfer for its link's `handover_s` (catalogue) from the step that saw the change; a transfer that starts
  inside the interruption waits for the rest of it (InterruptibleRadio). A transfer already on the old
  cell's link finishes there (transfers last milliseconds; steps are about a second), and a reply whose
  route ran through the old site is carried to the device by the new cell (the metro forwarding between the
  sites is not charged).
- Out of coverage: the device's access links are a NoCoverage link. A request the policy offloads then is
  lost with reason `no-coverage`, and so is the reply of a request sent before the device left (the issue's
  "lost and recorded with its reason when there is no new cell"). Policies are not told coverage, so a
  request is not moved to the device's CPU behind the policy's back: the loss is what offloading from a
  moving device costs.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from sim.energy import NO_REQUEST, FleetEnergy
from sim.movement import RandomWaypoint, TracePositions
from sim.recorder import NO_COVERAGE
from sim.scenario_mobility import read_positions
from sim.topology import NO_CELL

World = Any  # sim.world.World, which imports this module (no type import back: no import cycle)

ROW = 0  # the row of an in-flight request (sim.serving's request list)
# the position track kept for the run directory's map (positions.csv): at most this many moving devices,
# each at most this many instants, so a city-scale fleet still writes a small file
TRACKED_DEVICES = 40
TRACK_POINTS = 400


class InterruptibleRadio(FleetEnergy):
    """FleetEnergy whose radio cannot start a transfer while its device is in a handover interruption."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.interrupted_until = [0.0] * len(self.idle_w)

    def radio_start(self, dev: int, now: float, row: int = NO_REQUEST) -> tuple[float, float]:
        """As FleetEnergy's, the delay lengthened by what is left of the device's interruption (the promotion,
        if one is due, happens once the new cell is reachable: the two add)."""
        delay, joules = FleetEnergy.radio_start(self, dev, now, row)
        wait = self.interrupted_until[dev] - now
        return (delay + wait, joules) if wait > 0.0 else (delay, joules)


class NoCoverage:
    """The access link of a device with no cell in range: a flow sent on it is lost, its request's row says why."""

    def __init__(self, world: World, dev: int):
        self._world, self._dev = world, dev
        self.lost = 0

    def send(self, nbytes: float, on_done, token) -> None:
        world = self._world
        row = token[ROW] if type(token) is list else NO_REQUEST  # federated transfers pass 0: no row
        # the radio_start this send followed is closed (no bytes carried); a lost federated transfer never
        # calls back, so the round's deadline treats the device as a straggler
        world.energy.radio_end(self._dev, world.env.now, 0.0, 0.0, True, row)
        if row >= 0:
            world.recorder.dropped[row] = NO_COVERAGE
        self.lost += 1


class _Mover:
    """One moving fleet entry: its devices, their movement model, and the cells of their link kind."""

    def __init__(self, devices: np.ndarray, model, update_s: float, cells: list):
        self.devices, self.model, self.update_s = devices, model, update_s
        self.cell_index = np.array([c.index for c in cells])
        self.cell_x = np.array([c.position[0] for c in cells], float)
        self.cell_y = np.array([c.position[1] for c in cells], float)
        self.radius2 = np.array([c.radius_m for c in cells], float) ** 2
        self.cell = np.full(len(devices), -2)  # the cell each device is in (-2: not placed yet)
        self.tracked = np.zeros(0, np.int64)  # indices into `devices` whose positions are kept (Mobility sets it)
        self.track_every = 1  # keep the tracked positions every this many update steps

    def nearest_cells(self) -> np.ndarray:
        """Each device's nearest cell in range (ties: the first declared), NO_CELL where none is."""
        pos = self.model.positions
        d2 = (pos[:, 0, None] - self.cell_x) ** 2 + (pos[:, 1, None] - self.cell_y) ** 2
        d2[d2 > self.radius2] = np.inf
        best = np.argmin(d2, axis=1)
        return np.where(np.isfinite(d2[np.arange(len(best)), best]), self.cell_index[best], NO_CELL)


class Mobility:
    """Every moving device of a world: positions, cell changes, handover and coverage counts."""

    def __init__(self, world: World, rng: np.random.Generator):
        self.world = world
        self.topology, self.radio = world.topology, world.energy
        n = world.n_devices
        self.handovers = [0] * n  # cell -> cell changes
        self.out_of_coverage_s = [0.0] * n
        self._out_since: list[float | None] = [None] * n
        self.events: list[tuple[float, int, int, int]] = []  # (time s, device, from cell, to cell) after t = 0
        # (time s, device, x m, y m, cell) of a few devices at a few instants: the map's traces, not the model's
        self.track: list[tuple[float, int, float, float, int]] = []
        self._no_link: dict[int, NoCoverage] = {}
        self._movers: list[_Mover] = []
        for g, group in enumerate(world.scenario.fleet):
            spec = group.mobility
            if spec is None:
                continue
            devices = np.array([d.index for d in world.devices if d.group == g])
            if spec.kind == "random-waypoint":
                model = RandomWaypoint(len(devices), spec.area, spec.speed, spec.pause or 0.0, rng)
            else:
                model = TracePositions(*read_positions(spec.file), len(devices))
            link = world.devices[devices[0]].link.name
            self._movers.append(_Mover(devices, model, spec.update, [c for c in self.topology.cells
                                                                     if c.link.name == link]))
        self._choose_tracked(world.duration_s)
        for mover in self._movers:  # where each device starts: no handover, no interruption
            self._reattach(mover, 0.0)
            self._keep_track(mover, 0.0)
        self.out_at_start = int(sum((mover.cell == NO_CELL).sum() for mover in self._movers))

    def _choose_tracked(self, duration_s: float) -> None:
        """TRACKED_DEVICES of the moving devices, spread evenly by index (no random draw: no stream moves)."""
        moving = sum(len(mover.devices) for mover in self._movers)
        chosen = np.arange(min(TRACKED_DEVICES, moving)) * moving // max(1, min(TRACKED_DEVICES, moving))
        first = 0
        for mover in self._movers:
            mine = chosen[(chosen >= first) & (chosen < first + len(mover.devices))]
            mover.tracked = mine - first
            first += len(mover.devices)
            mover.track_every = max(1, -(-int(duration_s / mover.update_s) // TRACK_POINTS))

    def _keep_track(self, mover: _Mover, now: float) -> None:
        pos = mover.model.positions
        for i in mover.tracked.tolist():
            self.track.append((now, int(mover.devices[i]), float(pos[i, 0]), float(pos[i, 1]), int(mover.cell[i])))

    def start(self) -> None:
        for mover in self._movers:
            self.world.env.process(self._follow(mover))

    def _follow(self, mover: _Mover):
        env, step = self.world.env, 0
        while True:
            step += 1
            yield env.timeout(step * mover.update_s - env.now)  # instants k x update, without drift
            mover.model.move_to(env.now)
            self._reattach(mover, env.now)
            if step % mover.track_every == 0:
                self._keep_track(mover, env.now)

    def _reattach(self, mover: _Mover, now: float) -> None:
        nearest = mover.nearest_cells()
        for i in np.flatnonzero(nearest != mover.cell).tolist():
            self._move(int(mover.devices[i]), int(mover.cell[i]), int(nearest[i]), now)
        mover.cell = nearest

    def _move(self, dev: int, old: int, new: int, now: float) -> None:
        placing = old == -2
        if new == NO_CELL:
            no_link = self._no_link.get(dev)
            if no_link is None:
                no_link = self._no_link[dev] = NoCoverage(self.world, dev)
            self.topology.detach(dev, no_link)
            self._out_since[dev] = now
        else:
            self.topology.attach(dev, new)
            if not placing:
                if old == NO_CELL:
                    self.out_of_coverage_s[dev] += now - self._out_since[dev]
                    self._out_since[dev] = None
                else:
                    self.handovers[dev] += 1
                self.radio.interrupted_until[dev] = now + self.world.devices[dev].link.handover_s
                self.world.serving.moved(dev)  # its observation's site fields follow it
        if not placing:
            self.events.append((now, dev, old, new))

    def close(self, end_s: float) -> None:
        """At the end of the run: count the out-of-coverage time of devices still out."""
        for dev, since in enumerate(self._out_since):
            if since is not None:
                self.out_of_coverage_s[dev] += end_s - since
                self._out_since[dev] = None

    def summary(self) -> dict:
        """Headline counts for summary.json."""
        return {"handovers": int(sum(self.handovers)), "out_of_coverage_s": float(sum(self.out_of_coverage_s)),
                "lost_no_coverage": int(sum(link.lost for link in self._no_link.values()))}
