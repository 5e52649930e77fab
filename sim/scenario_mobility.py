"""The `mobility:` of a fleet entry: its devices move by random waypoint in an area, or follow a trace file
(time_s,device,x,y), and attach to the nearest cell of their link kind in range (sim.mobility)."""
from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from sim import traces, units
from sim.limits import shown
from sim.scenario_topology import Metres
from sim.scenario_types import Duration, Strict, _unit

MAX_SPEED_M_PER_S = 1000.0  # faster than an airliner is a typo
MIN_UPDATE_S = 0.01
MAX_STEPS = 10_000_000  # duration / update: each step is a few numpy operations over the moving devices
POSITION_COLUMNS = ("time_s", "device", "x", "y")
Pause = _unit(units.duration_s, "s", "1min", positive=False)  # 0s: move on at once


class MobilityConfig(Strict):
    kind: Literal["random-waypoint", "trace"]
    area: tuple[tuple[Metres, Metres], tuple[Metres, Metres]] | None = Field(
        default=None, exclude_if=lambda v: v is None, description="random-waypoint: [[x0, y0], [x1, y1]] metres")
    speed: tuple[float, float] | None = Field(default=None, exclude_if=lambda v: v is None,
                                              description="random-waypoint: [min, max] m/s, drawn per leg")
    pause: Pause | None = Field(default=None, exclude_if=lambda v: v is None,
                                description="random-waypoint: wait at each waypoint (default 0s)")
    file: str | None = Field(default=None, exclude_if=lambda v: v is None,
                             description="trace: CSV time_s,device,x,y (device: index within the fleet entry)")
    update: Duration = Field(default=1.0, description="positions and cells are updated this often")

    @model_validator(mode="after")
    def _fields_of_kind(self) -> "MobilityConfig":
        if self.kind == "random-waypoint":
            for name in ("area", "speed"):
                if getattr(self, name) is None:
                    raise ValueError(f"random-waypoint needs `{name}:`")
            if self.file is not None:
                raise ValueError("`file:` belongs to kind trace; random-waypoint takes area, speed, pause")
            (x0, y0), (x1, y1) = self.area
            if not (x0 < x1 and y0 < y1):
                raise ValueError(f"area must be [[x0, y0], [x1, y1]] with x0 < x1 and y0 < y1, got {shown(self.area)}")
            low, high = self.speed
            if not 0 < low <= high <= MAX_SPEED_M_PER_S:
                # a minimum of 0 makes the random waypoint's mean speed decay to 0 (Yoon, Liu, Noble 2003)
                raise ValueError(f"speed must be [min, max] m/s with 0 < min <= max <= {MAX_SPEED_M_PER_S:g}, "
                                 f"got {shown(self.speed)}")
        else:
            if self.file is None:
                raise ValueError("trace needs `file:` (CSV time_s,device,x,y)")
            extra = [name for name in ("area", "speed", "pause") if getattr(self, name) is not None]
            if extra:
                raise ValueError(f"`{extra[0]}:` belongs to kind random-waypoint; trace takes file, update")
            read_positions(self.file)
        if self.update < MIN_UPDATE_S:
            raise ValueError(f"update must be >= {MIN_UPDATE_S:g}s, got {self.update:g}s")
        return self


def read_positions(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A position trace as arrays (device, time s, x m, y m) sorted by device then time; ValueError if unusable."""
    rows = traces.read_rows(path, f"position trace {shown(path)}", POSITION_COLUMNS, _position_row)
    device, time_s, x, y = (np.array(column) for column in zip(*rows))
    order = np.lexsort((time_s, device))
    return device[order].astype(np.int64), time_s[order], x[order], y[order]


def _position_row(where: str, record: dict) -> tuple[int, float, float, float]:
    values = {}
    for column in POSITION_COLUMNS:
        try:
            value = float(record[column])
        except ValueError:
            value = math.nan
        if column == "time_s":
            ok, wanted = math.isfinite(value) and value >= 0, "a finite number >= 0"
        elif column == "device":
            ok, wanted = math.isfinite(value) and value >= 0 and value == int(value), "a whole number >= 0"
        else:
            ok, wanted = abs(value) < 1e8, "a finite distance in metres"
        if not ok:
            raise ValueError(f"{where}: {column} must be {wanted}, got {shown(record[column])}")
        values[column] = value
    return int(values["device"]), values["time_s"], values["x"], values["y"]


def check(scenario: Any) -> tuple[str, str] | None:
    """The first (field path, problem) of the scenario's fleet mobility, or None (typed Any: no import cycle)."""
    for i, group in enumerate(scenario.fleet):
        mobility = group.mobility
        if mobility is None:
            continue
        where = f"fleet[{i}]"
        if not scenario.sites:
            return f"{where}.mobility", "devices move between the cells of `sites:`: declare them"
        for key in ("site", "cell"):
            if getattr(group, key) is not None:
                return f"{where}.{key}", f"a moving entry attaches by its position; drop `{key}:`"
        if group.bandwidth_trace is not None:
            return f"{where}.bandwidth_trace", "sets one cell's capacity; a moving entry has no one cell"
        if not any(cell.link == group.link for site in scenario.sites for cell in site.cells):
            return f"{where}.link", f"no site has a {shown(group.link)} cell to attach to"
        if scenario.duration / mobility.update > MAX_STEPS:
            return f"{where}.mobility.update", f"at most {MAX_STEPS:,} steps a run; duration / update is " \
                                               f"{scenario.duration / mobility.update:,.0f}"
        if mobility.kind == "trace":
            device = read_positions(mobility.file)[0]
            if device.max() >= group.count:
                return f"{where}.mobility.file", f"device {device.max()} in the trace; the entry has devices " \
                                                 f"0..{group.count - 1}"
            missing = np.setdiff1d(np.arange(group.count), device)
            if len(missing):
                return f"{where}.mobility.file", f"no positions for device {missing[0]} (every device " \
                                                 f"0..{group.count - 1} needs at least one row)"
    return None
