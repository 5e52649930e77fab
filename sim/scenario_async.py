"""The asynchronous-federation and availability fields of `federation:` (server.asynchronous, sim.availability)."""
from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, model_validator

from sim import traces, units
from sim.limits import shown
from sim.scenario_types import Strict, _unit

AVAILABILITY_COLUMNS = ("device", "start_s", "end_s")
HOUR_S = 3600.0
# Xie et al. 2019 (FedAsync), section 5: polynomial a = 0.5; hinge a = 10, b = 4
Jitter = _unit(units.duration_s, "s", "1h", positive=False)  # 0s: every device on the same clock
STALENESS_DEFAULTS = {"constant": {}, "polynomial": {"a": 0.5}, "hinge": {"a": 10.0, "b": 4.0}}


class Staleness(Strict):
    """How much an update computed `s` server versions ago still counts (Xie et al. 2019)."""

    kind: Literal["constant", "polynomial", "hinge"] = "constant"
    a: float | None = Field(default=None, ge=0, le=1e6, exclude_if=lambda v: v is None,
                            description="polynomial: (1+s)^-a; hinge: 1/(a(s-b)+1) past b")
    b: float | None = Field(default=None, ge=0, le=1e6, exclude_if=lambda v: v is None,
                            description="hinge: staleness that still counts fully")

    @model_validator(mode="after")
    def _params_of_kind(self) -> "Staleness":
        allowed = STALENESS_DEFAULTS[self.kind]
        for name in ("a", "b"):
            if getattr(self, name) is not None and name not in allowed:
                takes = ", ".join(allowed) or "no parameters"
                raise ValueError(f"`{name}:` does not belong to kind {self.kind}; it takes {takes}")
        return self

    def param(self, name: str) -> float:
        value = getattr(self, name)
        return STALENESS_DEFAULTS[self.kind][name] if value is None else value


class Availability(Strict):
    """When devices may train: always; daily in a local-time window (charging, on WiFi); or from a trace file."""

    kind: Literal["always", "diurnal", "trace"] = "always"
    from_hour: float | None = Field(default=None, ge=0, lt=24, exclude_if=lambda v: v is None,
                                    description="diurnal: local hour the window opens (default 0)")
    to_hour: float | None = Field(default=None, gt=0, le=24, exclude_if=lambda v: v is None,
                                  description="diurnal: local hour it closes (default 6); before from_hour: past midnight")
    jitter: Jitter | None = Field(default=None, exclude_if=lambda v: v is None,
                                    description="diurnal: each device's window shifted by uniform +-jitter (default 1h)")
    file: str | None = Field(default=None, exclude_if=lambda v: v is None,
                             description="trace: CSV device,start_s,end_s (device: index in the fleet), relative "
                                         "to the scenario file")

    @model_validator(mode="after")
    def _fields_of_kind(self) -> "Availability":
        own = {"always": (), "diurnal": ("from_hour", "to_hour", "jitter"), "trace": ("file",)}[self.kind]
        for name in ("from_hour", "to_hour", "jitter", "file"):
            if getattr(self, name) is not None and name not in own:
                raise ValueError(f"`{name}:` does not belong to kind {self.kind}; it takes {', '.join(own) or 'nothing'}")
        if self.kind == "diurnal" and (self.window_s[0] % 86400.0) == (self.window_s[1] % 86400.0):
            raise ValueError("from_hour and to_hour must differ (use kind: always for all day)")
        if self.kind == "trace":
            if self.file is None:
                raise ValueError("trace needs `file:` (CSV device,start_s,end_s)")
            read_availability(self.file)
        return self

    @property
    def window_s(self) -> tuple[float, float]:
        """(opens, closes) in seconds after local midnight."""
        opens = 0.0 if self.from_hour is None else self.from_hour
        closes = 6.0 if self.to_hour is None else self.to_hour
        return opens * HOUR_S, closes * HOUR_S

    @property
    def jitter_s(self) -> float:
        return HOUR_S if self.jitter is None else self.jitter


def read_availability(path: str) -> list[tuple[int, float, float]]:
    """The rows (device, start s, end s) of an availability trace; ValueError naming the row if unusable."""
    return traces.read_rows(path, f"availability trace {shown(path)}", AVAILABILITY_COLUMNS, _availability_row,
                            allow_empty=True)


def _availability_row(where: str, record: dict) -> tuple[int, float, float]:
    try:
        device, start, end = (float(record[c]) for c in AVAILABILITY_COLUMNS)
    except ValueError:
        raise ValueError(f"{where}: device, start_s and end_s must be numbers") from None
    if not (math.isfinite(device) and device >= 0 and device == int(device)):
        raise ValueError(f"{where}: device must be a whole number >= 0, got {shown(record['device'])}")
    if not (math.isfinite(start) and math.isfinite(end) and 0 <= start < end):
        raise ValueError(f"{where}: needs 0 <= start_s < end_s, got {shown(record['start_s'])}, "
                         f"{shown(record['end_s'])}")
    return int(device), start, end


def check(scenario: Any) -> tuple[str, str] | None:
    """The first (field path, problem) of the asynchronous and availability settings, or None."""
    fed = scenario.federation
    where = "federation"
    if fed.mode == "sync":
        for name in ("buffer_size", "concurrency"):
            if getattr(fed, name) is not None:
                return f"{where}.{name}", "applies to mode fedbuff or fedasync; mode is sync"
        if fed.staleness != Staleness():
            return f"{where}.staleness", "applies to mode fedbuff or fedasync; mode is sync"
    else:
        if fed.mode == "fedbuff" and fed.buffer_size is None:
            return f"{where}.buffer_size", "fedbuff needs buffer_size (updates per aggregation)"
        if fed.mode == "fedasync" and fed.buffer_size not in (None, 1):
            return f"{where}.buffer_size", f"fedasync aggregates every update (buffer of one), got {fed.buffer_size}"
        for name, allowed in (("strategy", "fedavg"), ("selection", "random")):
            if getattr(fed, name) != allowed:
                return f"{where}.{name}", f"mode {fed.mode} allows only {allowed}, got {shown(getattr(fed, name))}"
        for name in ("personalise", "dp_noise_multiplier"):
            if getattr(fed, name) not in (False, None):
                return f"{where}.{name}", f"is not supported with mode {fed.mode}"
    if fed.availability.kind == "trace":
        devices = [row[0] for row in read_availability(fed.availability.file)]
        if devices and max(devices) >= scenario.device_count:
            return f"{where}.availability.file", f"device {max(devices)} in the trace; the fleet has devices " \
                                                 f"0..{scenario.device_count - 1}"
    return None
