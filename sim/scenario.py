"""Scenario files: a typed, frozen schema loaded with yaml.safe_load, and one-line errors."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from sim import errors, limits, scenario_async, scenario_dvfs, traces, scenario_hierarchy, scenario_mobility, scenario_topology
from sim.catalogue import CLOUD, DEVICES, EDGE_SERVER, LINKS, WAN, overrides
from sim.catalogue.overrides import DeviceOverride, LinkOverride
from sim.errors import MAX_REPORTED, FieldError as _FieldError  # noqa: F401  (MAX_REPORTED: tests)
from sim.limits import shown
from sim.scenario_dvfs import Governor
from sim.scenario_federation import CompressionConfig, Federation, ModelConfig, Models, Pretrain  # noqa: F401
from sim.scenario_mobility import MobilityConfig
from sim.scenario_topology import CloudConfig, Forwarding, MetroLink, Outage, SiteConfig, Timeouts
from sim.scenario_types import (Bitrate, DataSpan, Duration, Energy, EventRate, Power, Size,  # noqa: F401
                                Strict)


class ScenarioError(Exception):
    """A scenario that cannot be used; str() is one or more lines 'file: field: what is allowed'."""


class PolicyConfig(Strict):
    name: str = "greedy"
    params: dict[str, float | int | str | bool] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        from sim.policies import registry  # the registry imports nothing from here

        if name not in registry():
            raise ValueError(f"unknown policy {shown(name)}; allowed: {', '.join(sorted(registry()))}")
        return name

    @model_validator(mode="after")
    def _params_fit(self) -> "PolicyConfig":
        import numpy as np

        from sim.policies import make_policy

        try:
            make_policy(self.name, self.params, np.random.default_rng(0))
        except (TypeError, ValueError, OverflowError) as exc:
            raise _FieldError("policy.params", str(exc)) from None
        return self


class Workload(Strict):
    """Requests per device: Poisson, periodic (random phase), or bursty (two-state MMPP with mean `rate`)."""

    kind: Literal["poisson", "periodic", "bursty"] = "poisson"
    rate: EventRate
    deadline: Duration
    burst_ratio: float = Field(default=5.0, ge=1.0, description="bursty: rate in a burst / rate when calm")
    mean_burst: Duration = 30.0
    mean_calm: Duration = 120.0


class Harvest(Strict):
    kind: Literal["solar"] = "solar"
    peak: Power

    @field_validator("peak")
    @classmethod
    def _positive(cls, peak: float) -> float:
        if peak <= 0:
            raise ValueError(f"must be > 0, got {shown(peak)}")
        return peak


class FleetGroup(Strict):
    profile: str
    count: int = Field(ge=1, le=limits.MAX_DEVICES)
    link: str = "wifi"
    workload: Workload
    battery: Energy | None = None  # overrides the profile's battery; omit for the profile default
    battery_revive: float = Field(default=0.2, ge=0.0, le=1.0, description="state of charge that restarts an emptied device")
    harvest: Harvest | None = None
    cpu_scale: float = Field(default=1.0, gt=0.0, le=1.0, description="DVFS: f / f_max")
    bandwidth_trace: str | None = None  # CSV time_s,up_bps,down_bps: the access link's capacity from each time on
    # with `sites:`: where the entry's devices attach (a cell by name, or the first cell of their link kind at a
    # site); omitted from the resolved scenario when unset, so a run without sites reads as it always did
    site: str | None = Field(default=None, exclude_if=lambda v: v is None)
    cell: str | None = Field(default=None, exclude_if=lambda v: v is None)
    # with `sites:`: the entry's devices move and attach to the nearest cell of their link kind (sim.mobility)
    mobility: MobilityConfig | None = Field(default=None, exclude_if=lambda v: v is None)
    # how the entry's CPUs pick a frequency step (sim.dvfs); omitted: the static cpu_scale, as always
    governor: Governor | None = Field(default=None, exclude_if=lambda v: v is None)

    @field_validator("bandwidth_trace")
    @classmethod
    def _readable_trace(cls, trace: str | None) -> str | None:
        if trace is not None:
            read_trace(trace)
        return trace


TRACE_COLUMNS = ("time_s", "up_bps", "down_bps")


def read_trace(path: str) -> list[tuple[float, float, float]]:
    """Rows (time s, uplink bit/s, downlink bit/s) of a bandwidth trace, sorted by time; ValueError if unusable."""
    return sorted(traces.read_rows(path, f"bandwidth trace {shown(path)}", TRACE_COLUMNS, _trace_row))


def _trace_row(where: str, record: dict) -> tuple[float, float, float]:
    """One trace row as floats: a finite time >= 0 and finite rates > 0, or ValueError naming the row."""
    values = []
    for column in TRACE_COLUMNS:
        try:
            value = float(record[column])
        except ValueError:
            value = math.nan
        low_ok = value >= 0 if column == "time_s" else value > 0
        if not (math.isfinite(value) and low_ok):
            wanted = "a finite number >= 0" if column == "time_s" else "a finite rate > 0 (bit/s)"
            raise ValueError(f"{where}: {column} must be {wanted}, got {shown(record[column])}")
        values.append(value)
    return values[0], values[1], values[2]


class EdgeServer(Strict):  # defaults: the catalogue's edge server (sim/catalogue/servers.yaml)
    cores: int = Field(default=EDGE_SERVER.cores, ge=1, le=limits.MAX_CORES)
    speed: float = Field(default=EDGE_SERVER.core_flops_per_s, gt=0, description="FLOP/s per core")


class Cloud(Strict):  # defaults: the catalogue's cloud and WAN (sim/catalogue/servers.yaml)
    cores: int = Field(default=CLOUD.cores, ge=1, le=limits.MAX_CORES)
    speed: float = Field(default=CLOUD.core_flops_per_s, gt=0, description="FLOP/s per core")
    wan_up: Bitrate = WAN.up_bps
    wan_down: Bitrate = WAN.down_bps
    wan_rtt: Duration = WAN.rtt_s


class Output(Strict):
    """What a run directory keeps: at city scale the per-request table dominates (63 bytes a request)."""

    requests: Literal["all", "sample", "none"] = "all"
    request_sample: float = Field(default=0.01, gt=0, le=1,
                                  description="requests: sample writes every request of this share of the devices")
    links: bool = True  # links.csv
    battery: bool = True  # battery.csv
    sample_every: Duration | None = Field(default=None, gt=0, description="links/battery interval; default duration/200")
    # forecast errors also in kWh per hour (RMSE, MAE), for int8 and fp32 on-device models: summary.json forecast_kwh
    forecast_kwh: bool = False
    stream: bool | None = Field(default=None, description="write requests.parquet in row groups as the run goes "
                                "(bounded memory); default: only runs of more than 20M requests")


class Data(Strict):
    start: str = "2013-06-01"
    history: DataSpan = 120 * 86400.0

    @field_validator("start")
    @classmethod
    def _in_range(cls, start: str) -> str:
        import datetime

        try:
            day = datetime.date.fromisoformat(start)
        except ValueError:
            raise ValueError(f"must be a date YYYY-MM-DD, got {shown(start)}") from None
        if not datetime.date(2012, 11, 1) <= day <= datetime.date(2013, 12, 31):
            raise ValueError(f"must be between 2012-11-01 and 2013-12-31 (the data set's range), got {shown(start)}")
        return start


class Scenario(Strict):
    name: str
    description: str = ""
    # the ClientApps seed torch with seed * 100003 + ...: a seed of 2**48 overflows torch's 2**64 - 1 there
    seed: int = Field(default=0, ge=0, le=limits.MAX_SEED)
    duration: Duration
    policy: PolicyConfig = PolicyConfig()
    profiles: dict[str, DeviceOverride] = Field(default_factory=dict)
    links: dict[str, LinkOverride] = Field(default_factory=dict)
    fleet: list[FleetGroup] = Field(min_length=1)
    edge: EdgeServer = EdgeServer()
    cloud: Cloud = Cloud()
    sites: list[SiteConfig] = Field(default_factory=list, exclude_if=lambda v: not v)
    metro: list[MetroLink] = Field(default_factory=list, exclude_if=lambda v: not v)
    clouds: list[CloudConfig] | None = Field(default=None, exclude_if=lambda v: v is None, description=(
        "several clouds instead of the one `cloud:` (needs `sites:`): each site's requests for the cloud go to the "
        "one its WAN links reach soonest (round trip plus a request's and reply's transfer)"))
    forwarding: Forwarding = Field(default=Forwarding(), exclude_if=lambda v: v.kind == "none")
    outages: list[Outage] = Field(default_factory=list, exclude_if=lambda v: not v)
    timeouts: Timeouts = Field(default=Timeouts(), exclude_if=lambda v: v == Timeouts())
    models: Models = Models()
    federation: Federation = Federation()
    data: Data = Data()
    output: Output = Output()

    @model_validator(mode="after")
    def _known_profiles(self) -> "Scenario":
        for problem in (overrides.first_problem("profiles", "profile", self.profiles, DEVICES),
                        overrides.first_problem("links", "link", self.links, LINKS)):
            if problem is not None:
                raise _FieldError(*problem)
        devices, links = overrides.known_names(self.profiles, DEVICES), overrides.known_names(self.links, LINKS)
        for i, group in enumerate(self.fleet):
            if group.profile not in devices:
                raise _FieldError(f"fleet[{i}].profile",
                                  f"unknown profile {shown(group.profile)}; allowed: {', '.join(devices)}")
            if group.link not in links:
                raise _FieldError(f"fleet[{i}].link", f"unknown link {shown(group.link)}; allowed: {', '.join(links)}")
        problem = (scenario_topology.check(self) or scenario_mobility.check(self)
                   or scenario_hierarchy.check(self) or scenario_async.check(self) or scenario_dvfs.check(self))
        if problem is None and self.federation.hierarchy is not None and self.federation.mode != "sync":
            problem = ("federation.mode", f"hierarchical FL runs synchronous edge and cloud rounds; allowed with "
                                          f"`hierarchy`: sync, got {self.federation.mode!r}")
        if problem is not None:
            raise _FieldError(*problem)
        from sim import memory  # (it reads this module's models through clients.spec only)

        problem = memory.first_problem(self)
        if problem is not None:
            raise _FieldError(*problem)
        compression = self.models.edge.compression
        if compression is not None and self.federation.pretrain.rounds == 0:
            raise _FieldError("models.edge.compression", "is applied in pretraining: set federation.pretrain.rounds "
                              ">= 1 (or drop models.edge.compression)")
        if compression is not None and compression.distill_from == "cloud":
            cloud, edge = self.models.cloud, self.models.edge
            if cloud is None or (cloud.window, cloud.calendar) != (edge.window, edge.calendar):
                raise _FieldError("models.edge.compression.distill_from", "cloud needs models.cloud with the edge "
                                  "model's window and calendar (the teacher forecasts the same windows)")
        if self.models.cloud is not None and self.federation.pretrain.rounds == 0:
            raise _FieldError("models.cloud", "the cloud model is trained by federated pretraining: "
                              "set federation.pretrain.rounds >= 1 (or drop models.cloud)")
        horizon = self.duration + 2 * 86400
        if horizon > 200 * 86400:
            raise _FieldError("duration", f"must be <= 198 days (data after the start date), got {self.duration:g}s")
        return self

    def device_profile(self, name: str):
        """The catalogue device profile `name` with this scenario's `profiles:` override applied."""
        return overrides.resolve(DEVICES, name, self.profiles.get(name))

    def known_links(self) -> list[str]:
        """The link names a fleet entry or a cell may use: the catalogue's and this scenario's own."""
        return overrides.known_names(self.links, LINKS)

    def link_profile(self, name: str):
        """The catalogue link `name` with this scenario's `links:` override applied."""
        return overrides.resolve(LINKS, name, self.links.get(name))

    @property
    def device_count(self) -> int:
        return sum(g.count for g in self.fleet)

    @property
    def flower_supernodes(self) -> int:
        """How many Flower supernodes host the devices' ClientApps."""
        return min(self.federation.supernodes or self.device_count, self.device_count)


def parse(data: Any, source: str = "<scenario>") -> Scenario:
    """Validate a mapping into a Scenario; raise ScenarioError with one line per problem."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: (top level): must be a mapping of scenario fields, got "
                            f"{'an empty file' if data is None else type(data).__name__}")
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(errors.describe_all(source, exc, Scenario)) from None
    _check_limits(scenario, source)
    return scenario


def _check_limits(scenario: Scenario, source: str) -> None:
    """Refuse, before anything is allocated, a run this machine cannot hold or that would not end (sim.limits)."""
    try:
        found = limits.problems(scenario)
    except limits.LimitError as exc:  # a bad EDGEFED_MEMORY_LIMIT_BYTES
        found = [("(environment)", str(exc))]
    if found:
        raise ScenarioError("\n".join(f"{source}: {path}: {message}" for path, message in found))


def read_yaml(path: str | Path) -> Any:
    """A YAML file's data, read in bounded size, depth and alias expansion (sim.limits); ScenarioError, one line
    naming the file, when it cannot be read or parsed. Scenario and sweep files are both read by it."""
    path = Path(path)
    try:
        text = limits.read_bounded(path, limits.MAX_SCENARIO_BYTES, "file").decode("utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{path}: file not found") from None
    except limits.LimitError as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:  # 'PATH: Is a directory', as the CLI words other OS errors
        raise ScenarioError(f"{path}: {limits.read_problem(exc)}") from None
    try:
        data = limits.load_yaml(text)
    except limits.LimitError as exc:  # nesting, or what anchors and aliases expand to
        raise ScenarioError(f"{path}: {exc}") from None
    except yaml.reader.ReaderError as exc:  # a control character or a NUL: no line and column of its own
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise ScenarioError(f"{path}: YAML syntax error at character {exc.position + 1}: {exc.reason} "
                            f"(#x{code:04x})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        if isinstance(exc, yaml.constructor.ConstructorError):  # well-formed, but no value edgefed can use
            raise ScenarioError(f"{path}: YAML value at {where} cannot be used: {problem}") from None
        raise ScenarioError(f"{path}: YAML syntax error at {where}: {problem}") from None
    return data


def load(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file."""
    path = Path(path)
    data = read_yaml(path)
    # trace files are named relative to the scenario file
    for group in (data.get("fleet") or []) if isinstance(data, dict) and isinstance(data.get("fleet"), list) else []:
        if isinstance(group, dict) and isinstance(group.get("bandwidth_trace"), str):
            try:
                group["bandwidth_trace"] = str((path.parent / group["bandwidth_trace"]).resolve())
            except (OSError, ValueError):  # a NUL in the name, a symlink loop: read_trace says it cannot be read
                pass
        mobility = group.get("mobility") if isinstance(group, dict) else None
        if isinstance(mobility, dict) and isinstance(mobility.get("file"), str):
            try:
                mobility["file"] = str((path.parent / mobility["file"]).resolve())
            except (OSError, ValueError):
                pass
    federation = data.get("federation") if isinstance(data, dict) else None
    availability = federation.get("availability") if isinstance(federation, dict) else None
    if isinstance(availability, dict) and isinstance(availability.get("file"), str):
        try:
            availability["file"] = str((path.parent / availability["file"]).resolve())
        except (OSError, ValueError):
            pass
    return parse(data, str(path))


def with_overrides(scenario: Scenario, *, seed: int | None = None, policy: str | None = None,
                   federation: bool | None = None, backend: str | None = None,
                   source: str = "<scenario>") -> Scenario:
    """The same scenario with a CLI-chosen seed, policy, federation switch or backend, validated again."""
    data = scenario.model_dump(mode="json")
    if federation is not None:
        data["federation"]["enabled"] = federation
    if backend is not None:
        data["federation"]["backend"] = backend
    if seed is not None:
        data["seed"] = seed
    if policy is not None:
        data["policy"] = {"name": policy, "params": {}}
    return parse(data, source)


def dump(scenario: Scenario) -> str:
    """The resolved scenario as YAML that load() reads back to an equal Scenario."""
    data = scenario.model_dump(mode="json")
    if scenario.sites:  # each site has its own server: the single-site `edge:` would only mislead a reader
        data.pop("edge")
    if scenario.clouds is not None:  # likewise each cloud its cores and speed, each site its WAN
        data.pop("cloud")
    return yaml.safe_dump(data, sort_keys=False)
