"""Scenario files: a typed, frozen schema loaded with yaml.safe_load, and one-line errors."""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from sim import limits, scenario_async, traces, scenario_hierarchy, scenario_mobility, scenario_topology
from sim.catalogue import CLOUD, DEVICES, EDGE_SERVER, LINKS, WAN, overrides
from sim.catalogue.overrides import DeviceOverride, LinkOverride
from sim.limits import shown
from sim.scenario_async import Availability, Staleness
from sim.scenario_hierarchy import Hierarchy
from sim.scenario_mobility import MobilityConfig
from sim.scenario_topology import Forwarding, MetroLink, Outage, SiteConfig, Timeouts
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


class CompressionConfig(Strict):
    """How the edge model is shrunk in pretraining (clients.spec.Compression): see models.edge.compression."""

    prune: float = Field(default=0.0, ge=0, lt=1, description="share of hidden units (structured) or weights removed")
    structured: bool = False
    distill_from: Literal["cloud"] | None = None


class ModelConfig(Strict):
    cell: Literal["lstm", "gru"] = "lstm"
    hidden: int = Field(default=16, ge=1, le=1024)
    layers: int = Field(default=1, ge=1, le=8)
    window: int = Field(default=24, ge=2, le=24 * 14)
    calendar: bool = False
    proj_size: int = Field(default=0, ge=0, le=1023, description="LSTM projection width; 0: none")
    compression: CompressionConfig | None = None

    @model_validator(mode="after")
    def _projection_fits(self) -> "ModelConfig":
        # (the error's path is the model's: models.edge, models.cloud)
        if self.proj_size and self.cell != "lstm":
            raise ValueError(f"proj_size needs cell 'lstm' (a GRU has no projection), got cell {shown(self.cell)}")
        if self.proj_size and self.proj_size >= self.hidden:
            raise ValueError(f"proj_size must be < hidden ({self.hidden}), got {self.proj_size}")
        return self

    @property
    def spec(self):
        """The architecture as clients.spec.ModelSpec (its ``deployed`` form is what a device runs)."""
        from clients.spec import ModelSpec

        return ModelSpec(**self.model_dump())


class Models(Strict):
    edge: ModelConfig = ModelConfig()
    int8_on_device: bool = True  # devices serve the int8-quantised edge model
    # the larger fp32 model the edge server and the cloud serve; None: they serve the global edge model in fp32
    cloud: ModelConfig | None = None


class Pretrain(Strict):
    """Federated rounds on the devices' history before the deployment starts (not charged in simulated time)."""

    rounds: int = Field(default=3, ge=0, le=limits.MAX_ROUNDS)
    clients_per_round: int = Field(default=10, ge=1, le=limits.MAX_DEVICES)
    local_epochs: int = Field(default=2, ge=1, le=limits.MAX_LOCAL_EPOCHS)
    span: DataSpan = 60 * 86400.0


class Federation(Strict):
    enabled: bool = True
    pretrain: Pretrain = Pretrain()
    rounds: int = Field(default=2, ge=0)
    first_round_at: Duration = 600.0
    every: Duration = 1800.0
    clients_per_round: int = Field(default=5, ge=1, le=limits.MAX_DEVICES)
    local_epochs: int = Field(default=1, ge=1, le=limits.MAX_LOCAL_EPOCHS)
    learning_rate: float = Field(default=0.01, gt=0, le=1)
    train_span: DataSpan = 14 * 86400.0
    round_deadline: Duration = 600.0
    strategy: Literal["fedavg", "fedprox", "fedadam", "fedyogi", "fedavgm"] = "fedavg"
    proximal_mu: float = Field(default=0.01, ge=0, description="fedprox: weight of the client's proximal term")
    server_learning_rate: float = Field(default=0.1, gt=0, description="fedadam/fedyogi eta, fedavgm server lr")
    server_momentum: float = Field(default=0.9, ge=0, lt=1, description="fedavgm momentum")
    selection: Literal["random", "energy-aware", "fastest-k", "availability"] = "random"
    min_battery_soc: float = Field(default=0.3, ge=0, le=1, description="energy-aware: skip devices below this")
    overcommit: float = Field(default=1.3, ge=1, le=5, description="fastest-k: select k x overcommit, keep the k first")
    compression: Literal["none", "int8", "top-k"] = "none"
    topk_fraction: float = Field(default=0.1, gt=0, le=1, description="top-k: share of update entries sent")
    fault_rate: float = Field(default=0.0, ge=0, lt=1, description="share of ClientApp calls that raise (fault injection)")
    dp_noise_multiplier: float | None = Field(default=None, ge=0, description="server-side DP with fixed clipping")
    dp_clipping_norm: float = Field(default=1.0, gt=0)
    personalise: bool = Field(default=False, description="devices serve local requests with their own fine-tuned copy")
    supernodes: int | None = Field(default=None, ge=1, description="Flower supernodes hosting the devices "
                                   "(device d on supernode d mod n); default one per device")
    # hierarchical FL and edge model caches (sim.scenario_hierarchy); omitted when unset, so flat runs read as before
    hierarchy: Hierarchy | None = Field(default=None, exclude_if=lambda v: v is None,
                                        description="client -> edge site -> cloud (HierFAVG)")
    edge_cache: bool = Field(default=False, exclude_if=lambda v: not v,
                             description="flat FL with sites: devices download a new global model from their site's cache")
    # asynchronous federation and device availability (sim.scenario_async checks them; defaults leave sync as it was)
    mode: Literal["sync", "fedbuff", "fedasync"] = Field(default="sync", exclude_if=lambda v: v == "sync")
    buffer_size: int | None = Field(default=None, ge=1, le=limits.MAX_DEVICES, exclude_if=lambda v: v is None,
                                    description="fedbuff: aggregate as soon as this many updates arrived")
    concurrency: int | None = Field(default=None, ge=1, le=limits.MAX_DEVICES, exclude_if=lambda v: v is None,
                                    description="fedbuff/fedasync: devices training at once (default clients_per_round)")
    staleness: Staleness = Field(default=Staleness(), exclude_if=lambda v: v == Staleness())
    server_step: float = Field(default=1.0, gt=0, le=10, exclude_if=lambda v: v == 1.0,
                               description="fedbuff/fedasync: server learning rate on the averaged delta")
    availability: Availability = Field(default=Availability(), exclude_if=lambda v: v.kind == "always")


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
                   or scenario_hierarchy.check(self) or scenario_async.check(self))
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


class _FieldError(ValueError):
    def __init__(self, path: str, message: str):
        super().__init__(message)
        self.path = path


def _field_path(loc: tuple) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            text = str(part)  # odd keys (line breaks, spaces) are quoted so the error stays on one line
            path += ("." if path else "") + (text if re.fullmatch(r"[\w.-]+", text) else shown(text))
    return path or "(top level)"


def _allowed_keys(loc: tuple) -> list[str]:
    model: Any = Scenario
    parts = list(loc[:-1])
    while parts:
        part = parts.pop(0)
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
        if getattr(annotation, "__origin__", None) is dict and parts:
            parts.pop(0)  # the entry's name, as in profiles.<name>.<field>
        inner = [a for a in getattr(annotation, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)]
        model = inner[0] if inner else annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
    return list(model.model_fields)


def _describe(error: dict) -> tuple[str, str]:
    loc, kind, ctx, got = error["loc"], error["type"], error.get("ctx", {}), error.get("input")
    if loc[:2] == ("policy", "params") and len(loc) == 4:  # one line, not one per member of the value's union
        return _field_path(loc[:3]), f"must be a finite number, a string or a boolean, got {shown(got)}"
    if kind == "extra_forbidden":
        return _field_path(loc), f"unknown key; allowed: {', '.join(_allowed_keys(loc))}"
    if kind == "missing":
        return _field_path(loc), "required field is missing"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        op = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}[kind]
        bound = next(iter(ctx.values()))
        return _field_path(loc), f"must be {op} {bound}, got {shown(got)}"
    if kind == "finite_number":
        return _field_path(loc), f"must be a finite number, got {shown(got)}"
    if kind == "literal_error":
        return _field_path(loc), f"must be one of {ctx.get('expected')}, got {shown(got)}"
    if kind == "too_short":
        return _field_path(loc), f"must have at least {ctx.get('min_length')} item(s), got {len(got or [])}"
    if kind == "value_error":
        cause = ctx.get("error")
        if isinstance(cause, _FieldError):
            return cause.path, str(cause)
        return _field_path(loc), str(cause)
    if kind in ("model_type", "model_attributes_type"):
        keys = _allowed_keys((*loc, ""))  # the keys of the model at loc
        wanted = f"a mapping with keys from: {', '.join(keys)}" if keys else "a mapping"
        return _field_path(loc), f"must be {wanted}, got {shown(got)}"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        wanted = kind.split("_")[0]
        return _field_path(loc), f"must be {_KINDS.get(wanted, f'of type {wanted}')}, got {shown(got)}"
    return _field_path(loc), error["msg"]


_KINDS = {"dict": "a mapping (name: value)", "list": "a list", "int": "an integer", "float": "a number",
          "bool": "true or false", "string": "a string"}  # what a user writes, not pydantic's type names
MAX_REPORTED = 20  # problems listed one a line; the rest are counted


def parse(data: Any, source: str = "<scenario>") -> Scenario:
    """Validate a mapping into a Scenario; raise ScenarioError with one line per problem."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: (top level): must be a mapping of scenario fields, got "
                            f"{'an empty file' if data is None else type(data).__name__}")
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        lines = list(dict.fromkeys(f"{source}: {path}: {message}" for path, message in map(_describe, exc.errors())))
        if len(lines) > MAX_REPORTED:  # a fleet of 20,000 bad entries is one mistake, not 20,000 lines
            lines[MAX_REPORTED:] = [f"{source}: (top level): and {len(lines) - MAX_REPORTED:,} more problems"]
        raise ScenarioError("\n".join(lines)) from None
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
                   federation: bool | None = None, source: str = "<scenario>") -> Scenario:
    """The same scenario with a CLI-chosen seed, policy or federation switch, validated again."""
    data = scenario.model_dump(mode="json")
    if federation is not None:
        data["federation"]["enabled"] = federation
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
    return yaml.safe_dump(data, sort_keys=False)
