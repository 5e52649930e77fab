"""Sensitivity: vary the catalogue's assumed constants by factors, rerun the policies on the same seeds, report.

Every (constant, factor, policy, seed) is one grid point of the sweep machinery (sim.app.sweep.run_runs: Ray
when available, resumable, atomic). A varied constant is a scenario override (`profiles:`, `links:`, `edge:`,
`cloud:` or any number in the scenario), so a variant is a valid scenario file of its own. Outputs:
sensitivity.csv, ranking.csv (does the order of the policies change), plots/tornado-<metric>.png.
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from plots.sensitivity import BASELINE
from sim import scenario as scenarios
from sim.app import sweep
from sim.catalogue import CLOUD, DEVICES, EDGE_SERVER, WAN

# (catalogue section, entry, field, the catalogue's words): every number its YAML calls assumed
ASSUMED = (
    ("devices", "mcu-cortex-m4", "lstm_flops_per_s", "the model's 0.5 MFLOP assumed"),
    ("devices", "mcu-cortex-m4", "idle_w", "idle 5 mW assumed"),
    ("devices", "mcu-cortex-m4", "battery_j", "2 Wh coin-cell pack assumed"),
    ("devices", "raspberry-pi-4", "lstm_flops_per_s", "batch-1 LSTM effective rate assumed 1/8 of it"),
    ("devices", "jetson-nano", "lstm_flops_per_s", "batch-1 LSTM on CPU assumed 2 GFLOP/s"),
    ("devices", "jetson-nano", "idle_w", "idle 2.0 W assumed"),
    ("devices", "jetson-orin-nano", "lstm_flops_per_s", "batch-1 LSTM rate assumed 8 GFLOP/s"),
    ("devices", "jetson-orin-nano", "idle_w", "idle 4 W assumed"),
    ("devices", "smartphone", "lstm_flops_per_s", "LSTM rate assumed 3 GFLOP/s"),
    ("devices", "iot-gateway", "lstm_flops_per_s", "assumed: half a Pi 4 effective rate"),
    ("devices", "iot-gateway", "idle_w", "assumed: power scaled from Pi 4 figures"),
    ("devices", "iot-gateway", "active_w", "assumed: power scaled from Pi 4 figures"),
    ("links", "lte", "handover_s", "about 50 ms (recalled, not re-read here: assumed)"),
    ("links", "wifi", "tail_s", "240 ms power-save tail assumed"),
    ("links", "wifi", "handover_s", "200 ms assumed"),
    ("links", "5g", "a_up_w_per_mbps", "coefficients scaled from LTE by 2x, assumed"),
    ("links", "5g", "a_down_w_per_mbps", "coefficients scaled from LTE by 2x, assumed"),
    ("links", "5g", "base_w", "coefficients scaled from LTE by 2x, assumed"),
    ("links", "5g", "tail_w", "coefficients scaled from LTE by 2x, assumed"),
    ("links", "5g", "handover_s", "about 30 ms (assumed)"),
    *(("links", "nb-iot", f, "the numbers are assumed, in those ranges") for f in
      ("up_bps", "down_bps", "rtt_s", "base_w", "promotion_s", "tail_s", "tail_w", "handover_s")),
    ("links", "lora", "tail_w", "5% of Rx power (assumed)"),
    ("servers", "edge-server", "cores", "assumed: a small edge box"),
    ("servers", "edge-server", "core_flops_per_s", "50 GFLOP/s per core for batch-1 LSTM assumed"),
    ("servers", "cloud", "cores", "assumed"),
    ("servers", "cloud", "core_flops_per_s", "cloud cores assumed 100 GFLOP/s each"),
    ("wan", "wan", "up_bps", "the shared backhaul is assumed 100 Mbps"),
    ("wan", "wan", "down_bps", "the shared backhaul is assumed 100 Mbps"),
)
# the scenario field a server or WAN constant is set by, and the catalogue value it defaults to
SERVER_PATHS = {("edge-server", "cores"): ("edge.cores", EDGE_SERVER.cores),
                ("edge-server", "core_flops_per_s"): ("edge.speed", EDGE_SERVER.core_flops_per_s),
                ("cloud", "cores"): ("cloud.cores", CLOUD.cores),
                ("cloud", "core_flops_per_s"): ("cloud.speed", CLOUD.core_flops_per_s),
                ("wan", "up_bps"): ("cloud.wan_up", WAN.up_bps), ("wan", "down_bps"): ("cloud.wan_down", WAN.down_bps)}
METRICS = ("latency_mean_s", "energy_per_request_j")  # lower is better for both
_QUANTITY = re.compile(r"^([-+]?(?:[0-9]*\.)?[0-9]+(?:[eE][-+]?[0-9]+)?)([A-Za-z/%]*)$")  # "0.04s", "1e8bps"


class SensitivityError(ValueError):
    """Input the analysis cannot use; str() is one line naming the option or field and what is allowed."""


@dataclass(frozen=True)
class Constant:
    """One number to vary: its scenario path, its value in this scenario, and why it is varied."""

    path: str
    value: float
    why: str


# --- which constants ---------------------------------------------------------------------------------

def assumed_constants(scenario: scenarios.Scenario) -> list[Constant]:
    """The assumed catalogue constants this scenario uses (its fleet's profiles and links, its servers)."""
    wanted = {(section, entry, name): why for section, entry, name, why in ASSUMED}
    found: dict[str, Constant] = {}
    for section, key, names in (("devices", "profiles", [g.profile for g in scenario.fleet]),
                                ("links", "links", [g.link for g in scenario.fleet])):
        overrides = getattr(scenario, key)
        for name in dict.fromkeys(names):
            override = overrides.get(name)
            root = (override.base or name) if override is not None else name
            changed = override.changes() if override is not None else {}
            for (sec, entry, field), why in wanted.items():
                if sec == section and entry == root and field not in changed:
                    path = f"{key}.{name}.{field}"
                    value = read(scenario, path)
                    if value is not None:
                        found[path] = Constant(path, value, why)
    if not scenario.sites:  # with sites each site names its own server and WAN: vary sites.<i>.server.* by name
        for (entry, field), (path, default) in SERVER_PATHS.items():
            section = "wan" if entry == "wan" else "servers"
            if read(scenario, path) == default:  # a scenario's own value is no longer the assumed one
                found[path] = Constant(path, float(default), wanted[(section, entry, field)])
    return list(found.values())


def _profile_field(kind: str, field: str) -> str:
    return "battery_j" if kind == "profiles" and field == "battery" else field


def read(scenario: scenarios.Scenario, path: str) -> float | None:
    """The value at `path` in this scenario (catalogue defaults resolved); SensitivityError if there is none;
    None for a mains-powered device's battery."""
    parts = path.split(".")
    if parts[0] in ("profiles", "links") and len(parts) == 3:
        kind, name, field = parts
        known = scenario.known_links() if kind == "links" else list(dict.fromkeys([*DEVICES, *scenario.profiles]))
        if name not in known:
            raise SensitivityError(f"--vary {path}: unknown {kind[:-1]} {name!r}; allowed: {', '.join(known)}")
        profile = scenario.link_profile(name) if kind == "links" else scenario.device_profile(name)
        numeric = [f.name for f in dataclasses.fields(profile) if f.name not in ("name", "source")]
        field = _profile_field(kind, field)
        if field not in numeric:
            raise SensitivityError(f"--vary {path}: unknown field {parts[2]!r}; allowed: {', '.join(numeric)}")
        value = getattr(profile, field)
        return None if value is None else float(value)
    node: Any = scenario.model_dump(mode="json")
    for depth, part in enumerate(parts):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            where = ".".join(parts[:depth]) or "the scenario"
            allowed = ", ".join(map(str, range(len(node)))) if isinstance(node, list) else \
                ", ".join(node) if isinstance(node, dict) else "nothing (it is a value)"
            raise SensitivityError(f"--vary {path}: no field {part!r} in {where}; allowed: {allowed}")
    number = _quantity(node)
    if number is None:
        raise SensitivityError(f"--vary {path}: must name a number in the scenario, got {node!r}")
    return number[0]


def _quantity(value: Any) -> tuple[float, str] | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value), ""
    match = _QUANTITY.match(value.strip()) if isinstance(value, str) else None
    return (float(match.group(1)), match.group(2)) if match else None


def named_constants(scenario: scenarios.Scenario, paths: list[str]) -> list[Constant]:
    """The user's --vary paths as constants (SensitivityError naming the first unusable one)."""
    out = []
    for path in paths:
        value = read(scenario, path)
        if value is None:
            raise SensitivityError(f"--vary {path}: the device is mains powered (battery: none); nothing to vary")
        out.append(Constant(path, value, "named by the user"))
    return out


def parse_factors(text: str) -> list[float]:
    """'0.5,2' -> [0.5, 2.0]: finite numbers > 0."""
    factors = []
    for item in (t.strip() for t in text.split(",")):
        try:
            factor = float(item)
        except ValueError:
            factor = math.nan
        if not (math.isfinite(factor) and factor > 0):
            raise SensitivityError(f"--factors: must be comma-separated numbers > 0, got {item!r}")
        factors.append(factor)
    return list(dict.fromkeys(factors))


# --- the variants ------------------------------------------------------------------------------------

def _scaled(value: Any, factor: float) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return max(1, round(value * factor))  # cores: a whole number, at least one
    number, unit = _quantity(value)
    return f"{number * factor!r}{unit}" if unit else number * factor


def varied(scenario: scenarios.Scenario, path: str, factor: float) -> scenarios.Scenario:
    """The scenario with the constant at `path` times `factor`, as a scenario override; named after the change."""
    data = scenario.model_dump(mode="json")
    parts = path.split(".")
    if parts[0] in ("profiles", "links") and len(parts) == 3:
        kind, name, field = parts
        field = _profile_field(kind, field)
        entry = data[kind].setdefault(name, {})
        value = read(scenario, path) * factor
        if field == "battery_j":
            entry["battery"] = f"{value!r}J"
        else:
            cores = field == "cores"
            entry[field] = max(1, round(value)) if cores else value
    else:
        node = data
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        last = int(parts[-1]) if isinstance(node, list) else parts[-1]
        node[last] = _scaled(node[last], factor)
    data["name"] = f"{scenario.name}~{path}~x{factor:g}"
    try:
        return scenarios.parse(data, f"--vary {path} x{factor:g}")
    except scenarios.ScenarioError as exc:
        raise SensitivityError(str(exc).splitlines()[0]) from None


@dataclass(frozen=True)
class Plan:
    """Every grid point: (constant path, factor) -> its runs; the baseline under (BASELINE, 1.0)."""

    out: Path
    policies: list[str]
    seeds: list[int]
    constants: list[Constant]
    factors: list[float]
    points: dict[tuple[str, float], list[sweep.Run]]

    @property
    def runs(self) -> list[sweep.Run]:
        return [run for runs in self.points.values() for run in runs]


def plan(scenario: scenarios.Scenario, policies: list[str], seeds: list[int], constants: list[Constant],
         factors: list[float], out: Path) -> Plan:
    """The baseline and every variant, for every policy and seed (the same seeds: common random numbers)."""
    runs_dir = Path(out).absolute() / "runs"
    points: dict[tuple[str, float], list[sweep.Run]] = {}
    variants = [(BASELINE, 1.0, scenario)] + [(c.path, f, varied(scenario, c.path, f))
                                              for c in constants for f in factors]
    for path, factor, variant in variants:
        points[(path, factor)] = runs = []
        for policy in policies:
            for seed in seeds:
                resolved = scenarios.with_overrides(variant, seed=seed, policy=policy, source=variant.name)
                runs.append(sweep.Run(resolved, {}, runs_dir / sweep.run_name(resolved.name, policy, {}, seed)))
    return Plan(Path(out), policies, seeds, constants, factors, points)


def _pretraining_free(scenario: scenarios.Scenario) -> dict:
    # pretraining reads the catalogue only through memory.untrainable (server.coordinator.pretrain_models), and
    # runs with the local policy whatever the scenario's (sim.app.runner.pretrained)
    from sim import memory

    data = scenario.model_dump(mode="json")
    kept = {k: v for k, v in data.items() if k not in ("name", "policy", "profiles", "links", "edge", "cloud")}
    cloud = scenario.models.cloud
    return {"rest": kept, "edge": memory.untrainable(scenario, scenario.models.edge.spec),
            "cloud": memory.untrainable(scenario, cloud.spec) if cloud is not None else None}


def shared_pretraining(the_plan: Plan) -> Callable[[sweep.Run], Any]:
    """pretrained(run) for run_runs: a variant that pretraining cannot tell from its baseline starts from the
    baseline's models (one pretraining per seed, not per variant); any other trains its own."""
    from sim.app import runner

    baselines = {run.scenario.seed: run.scenario for run in the_plan.points[(BASELINE, 1.0)]}
    memo: dict[int, Any] = {}

    def pretrained(run: sweep.Run):
        base = baselines[run.scenario.seed]
        if _pretraining_free(run.scenario) != _pretraining_free(base):
            return runner.pretrained(run.scenario)
        if run.scenario.seed not in memo:
            memo[run.scenario.seed] = runner.pretrained(base)
        return memo[run.scenario.seed]

    return pretrained


def analyse(scenario: scenarios.Scenario, policies: list[str], seeds: list[int], constants: list[Constant],
            factors: list[float], out: Path, *, parallel: bool = True, address: str | None = None,
            metrics: tuple[str, ...] = METRICS, on_start=None, on_progress=None) -> tuple[list[dict], list[dict]]:
    """Run the plan through the sweep machinery; write sensitivity.csv, ranking.csv and the tornado figures."""
    from plots.sensitivity import plot_tornados
    from sim.app.sensitivity_report import rankings, results

    the_plan = plan(scenario, policies, seeds, constants, factors, out)
    report = sweep.run_runs(the_plan.out.absolute() / "runs", the_plan.runs, address=address, parallel=parallel,
                            on_start=on_start, on_progress=on_progress, pretrained=shared_pretraining(the_plan))
    if report.failed:
        raise SensitivityError(f"{len(report.failed)} runs failed; first: {report.failed[0]}")
    rows = results(the_plan, metrics)
    flips = rankings(rows)
    sweep.write_csv_atomically(the_plan.out / "sensitivity.csv", rows, list(rows[0]))
    sweep.write_csv_atomically(the_plan.out / "ranking.csv", flips, list(flips[0]) if flips else ["constant"])
    plot_tornados(the_plan.out / "sensitivity.csv", the_plan.out / "plots")
    return rows, flips


def sensitivity_command(scenario: Path, policies: str, vary: list[str], assumed: bool, factors: str, seeds: int,
                        federation: bool | None, duration: str | None, out: Path | None, address: str | None) -> None:
    """`edgefed sensitivity`: check the input (one-line errors, exit 2), run, print the table."""
    import importlib.util

    import typer
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from sim.app.output import run_dir_name
    from sim.app.sensitivity_report import table
    from sim.policies import registry

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        loaded = scenarios.with_overrides(scenarios.load(scenario), federation=federation, source=str(scenario))
        if duration is not None:  # shorter runs for a first look: every variant and the baseline alike
            loaded = scenarios.parse({**loaded.model_dump(mode="json"), "duration": duration}, "--duration")
        names = [p.strip() for p in policies.split(",") if p.strip()]
        unknown = [n for n in names if n not in registry()]
        if len(names) < 2 or unknown:
            raise SensitivityError(f"--policies: needs two or more known policies, got {', '.join(unknown) or policies!r}"
                                   f"; allowed: {', '.join(sorted(registry()))}")
        constants = list({c.path: c for c in (assumed_constants(loaded) if assumed else [])
                          + named_constants(loaded, vary)}.values())
        if not constants:
            raise SensitivityError("--vary: nothing to vary (the scenario uses no assumed constant); name one")
        factor_list = parse_factors(factors)
        target = out or Path("runs") / f"{run_dir_name(loaded.name)}-sensitivity"
        seed_list = [loaded.seed + i for i in range(seeds)]
        plan(loaded, names, seed_list, constants, factor_list, target)  # every variant validated before any run
    except (scenarios.ScenarioError, SensitivityError) as exc:
        err.print(f"error: {str(exc).splitlines()[0]}", markup=False)
        raise typer.Exit(2)
    columns = (TextColumn("[bold]sensitivity"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("runs", total=None)
        rows, flips = analyse(loaded, names, seed_list, constants, factor_list, target, address=address,
                              parallel=importlib.util.find_spec("ray") is not None,
                              on_start=lambda total, done: progress.update(task, total=total, completed=done),
                              on_progress=lambda run, status: progress.update(task, advance=1))
    print(table(f"{loaded.name}: {len(constants)} constants x {', '.join(f'{f:g}' for f in factor_list)}, "
                f"{seeds} seeds, mean over seeds", rows, flips, constants))
    print(f"wrote {target}/sensitivity.csv, ranking.csv and plots/tornado-*.png")
