"""The catalogue of devices, links, servers and the WAN: YAML files next to this module, loaded once into frozen
dataclasses. Every number is a named SI field and every entry names its `source` (docs: the YAML headers)."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import yaml

HERE = Path(__file__).resolve().parent

# lower bounds of a field; unmarked numbers only need to be >= 0
_POSITIVE = {"positive": True}
_AT_LEAST_ONE = {"min": 1}


@dataclass(frozen=True)
class PStates:
    """A CPU's frequency steps (ascending) and the whole device's power with one inference running at each.

    The top step is the profile's lstm_flops_per_s; a step f computes f / f_top as fast (sim.dvfs)."""

    name: str
    frequency_hz: tuple[float, ...]
    active_w: tuple[float, ...]
    transition_s: float  # the CPU stalls this long when the step changes (cpufreq transition latency)
    source: str


@dataclass(frozen=True)
class Accelerator:
    """A GPU or NPU that runs the device's local inference: batch-1 rate, whole-device power, per-call cost."""

    name: str
    lstm_flops_per_s: float = field(metadata=_POSITIVE)
    active_w: float = field(metadata=_POSITIVE)  # whole device with one inference running on the accelerator
    call_overhead_s: float  # launch, copy in, copy out: paid by every call however small the model
    source: str


@dataclass(frozen=True)
class DeviceProfile:
    """A class of edge device. SI units: FLOP/s, watts, bytes, joules."""

    name: str
    lstm_flops_per_s: float = field(metadata=_POSITIVE)  # effective rate on a batch-1 recurrent model, not peak
    cores: int = field(metadata=_AT_LEAST_ONE)
    idle_w: float
    active_w: float = field(metadata=_POSITIVE)  # whole device with one inference running
    ram_bytes: float = field(metadata=_POSITIVE)
    battery_j: float | None  # None: mains powered
    source: str
    pstates: PStates | None = None  # optional: the DVFS governors need it (sim.dvfs)
    accelerator: Accelerator | None = None  # optional: local inference runs on it


@dataclass(frozen=True)
class LinkProfile:
    """An access link: shared by every flow on it; radio power P = a_u*up + a_d*down + b."""

    name: str
    up_bps: float = field(metadata=_POSITIVE)
    down_bps: float = field(metadata=_POSITIVE)
    rtt_s: float  # device <-> edge round trip on this access network
    a_up_w_per_mbps: float
    a_down_w_per_mbps: float
    base_w: float
    promotion_s: float
    promotion_w: float
    tail_s: float
    tail_w: float
    handover_s: float  # a cell change (mobility) interrupts the device's transfers for this long
    source: str


@dataclass(frozen=True)
class ServerProfile:
    """An edge server or a cloud: cores serving requests FIFO, power linear in utilisation."""

    name: str
    cores: int = field(metadata=_AT_LEAST_ONE)
    core_flops_per_s: float = field(metadata=_POSITIVE)  # one core on a batch-1 LSTM
    idle_w: float
    max_w: float
    source: str


@dataclass(frozen=True)
class WanProfile:
    """The shared backhaul between the edge site and the cloud."""

    name: str
    up_bps: float = field(metadata=_POSITIVE)
    down_bps: float = field(metadata=_POSITIVE)
    rtt_s: float  # edge <-> cloud round trip, on top of the access link's
    source: str


class CatalogueError(ValueError):
    """A catalogue entry that cannot be used; str() is 'file: entry.field: what is allowed'."""


Profile = TypeVar("Profile")
_NUMBER = re.compile(r"[-+]?([0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?)")
_TYPES = {"float": float, "int": int, "float | None": float, "str": str}
_NESTED = {"PStates | None": PStates, "Accelerator | None": Accelerator}


def _number(value: Any, where: str) -> float:
    # YAML 1.1 reads 1e9 (no dot, unsigned exponent) as a string: take it as the number it was meant to be
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CatalogueError(f"{where}: must be a finite number, got {value!r}")
    return value


def _check(kind: type, value: Any, meta: Any, where: str) -> Any:
    if kind is str:
        if not isinstance(value, str) or not value.strip():
            raise CatalogueError(f"{where}: must be a non-empty text, got {value!r}")
        return value
    number = _number(value, where)
    if kind is int and number != int(number):
        raise CatalogueError(f"{where}: must be a whole number, got {value!r}")
    number = kind(number)
    low = meta.get("min", 0)
    if number < low or (meta.get("positive") and number <= 0):
        raise CatalogueError(f"{where}: must be {'> 0' if meta.get('positive') else f'>= {low}'}, got {value!r}")
    return number


def build(cls: type[Profile], name: str, entry: Any, where: str) -> Profile:
    """One validated profile of dataclass `cls` from a mapping of its fields (all of them, no others)."""
    if not isinstance(entry, dict):
        raise CatalogueError(f"{where}: {name}: must be a mapping of fields, got {type(entry).__name__}")
    wanted = [f for f in fields(cls) if f.name != "name"]
    unknown = sorted(set(entry) - {f.name for f in wanted})
    missing = [f.name for f in wanted if f.name not in entry and str(f.type) not in _NESTED]
    if unknown or missing:
        problem = f"unknown field {unknown[0]!r}" if unknown else f"field {missing[0]!r} is missing"
        raise CatalogueError(f"{where}: {name}: {problem}; fields: {', '.join(f.name for f in wanted)}")
    values = {}
    for f in wanted:
        value, optional, at = entry.get(f.name), str(f.type).endswith("| None"), f"{where}: {name}.{f.name}"
        if str(f.type) in _NESTED:  # an optional section of its own fields
            nested = _NESTED[str(f.type)]
            values[f.name] = value if value is None or isinstance(value, nested) else \
                build(nested, f.name, value, f"{where}: {name}")
        elif str(f.type) == "tuple[float, ...]":
            values[f.name] = _steps(value, at)
        else:
            values[f.name] = None if optional and value is None else _check(_TYPES[str(f.type)], value, f.metadata, at)
    built = cls(name=name, **values)
    if isinstance(built, PStates):
        _check_pstates(built, f"{where}: {name}")
    return built


def _steps(value: Any, where: str) -> tuple[float, ...]:
    if not isinstance(value, list) or not value:
        raise CatalogueError(f"{where}: must be a non-empty list of numbers, got {value!r}")
    return tuple(_check(float, v, _POSITIVE, f"{where}[{i}]") for i, v in enumerate(value))


def _check_pstates(table: PStates, where: str) -> None:
    """Steps strictly ascending, one power per step, power not falling as the frequency rises."""
    freq, power = table.frequency_hz, table.active_w
    if len(freq) != len(power):
        raise CatalogueError(f"{where}.active_w: needs one power per frequency step ({len(freq)}), got {len(power)}")
    if any(b <= a for a, b in zip(freq, freq[1:])):
        raise CatalogueError(f"{where}.frequency_hz: must be strictly ascending, got {list(freq)}")
    if any(b < a for a, b in zip(power, power[1:])):
        raise CatalogueError(f"{where}.active_w: must not fall as the frequency rises, got {list(power)}")


def _read(file: str) -> dict:
    path = HERE / file
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not data:
        raise CatalogueError(f"{path}: must be a mapping of entries")
    return data


def _entries(cls: type[Profile], data: Any, where: str) -> dict[str, Profile]:
    if not isinstance(data, dict) or not data:
        raise CatalogueError(f"{where}: must be a mapping of named entries")
    return {str(name): build(cls, str(name), entry, where) for name, entry in data.items()}


def load(file: str, cls: type[Profile]) -> dict[str, Profile]:
    """Every entry of catalogue file `file` (a mapping name -> fields) as a `cls`, in file order."""
    return _entries(cls, _read(file), str(HERE / file))


def load_servers() -> tuple[dict[str, ServerProfile], WanProfile]:
    """servers.yaml: the servers by name, and the WAN."""
    data, where = _read("servers.yaml"), str(HERE / "servers.yaml")
    extra = sorted(set(data) - {"servers", "wan"})
    if extra or "servers" not in data or "wan" not in data:
        raise CatalogueError(f"{where}: needs exactly the keys servers and wan, got {', '.join(map(str, data))}")
    servers = _entries(ServerProfile, data["servers"], f"{where}: servers")
    missing = [name for name in ("edge-server", "cloud") if name not in servers]
    if missing:
        raise CatalogueError(f"{where}: servers: needs an entry {missing[0]!r}")
    return servers, build(WanProfile, "wan", data["wan"], where)


DEVICES: dict[str, DeviceProfile] = load("devices.yaml", DeviceProfile)
LINKS: dict[str, LinkProfile] = load("links.yaml", LinkProfile)
SERVERS, WAN = load_servers()
EDGE_SERVER: ServerProfile = SERVERS["edge-server"]
CLOUD: ServerProfile = SERVERS["cloud"]
