"""The `edgefed` command line: run, validate, compare, plot, sweep, profiles, calibrate."""
from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import Callable, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sim import scenario as scenarios
from sim.app.output import RunDirError, prepare_run_directory, run_dir_name

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="edgefed: federated edge-cloud collaboration simulator.")
out_console = Console()
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(message: str, code: int = 2) -> None:
    for line in message.splitlines():
        err_console.print(f"error: {line}", markup=False)
    raise typer.Exit(code)


def _os_error_line(exc: OSError) -> str:
    """'PATH: reason', the path being the one the operating system names (both, for a rename)."""
    reason = exc.strerror or (str(exc).splitlines() or [type(exc).__name__])[0]
    paths = [os.fsdecode(p) for p in (exc.filename, exc.filename2) if p is not None]
    return f"{' -> '.join(paths)}: {reason}" if paths else reason


def _one_line_errors(command: Callable) -> Callable:
    """A file-system error in any command is one `error: PATH: reason` line and exit 2, not a traceback."""
    @functools.wraps(command)
    def guarded(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except RunDirError as exc:
            _fail(str(exc))
        except OSError as exc:
            _fail(_os_error_line(exc))
    return guarded


def _prepare_out(target: Path) -> None:
    """Before simulating: refuse a directory a run must not replace, fail on an unwritable one, report clean-ups."""
    try:
        notes = prepare_run_directory(target)
    except RunDirError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"{target}: cannot write the run directory: {exc.strerror or exc}")
    for note in notes:
        err_console.print(f"note: {note}", markup=False)


def _progress(columns: tuple) -> Progress:
    # off when stderr is not a terminal: a transient bar would still leave a blank line in a log
    return Progress(*columns, console=err_console, transient=True, disable=not err_console.is_terminal)


def _load(path: Path) -> scenarios.Scenario:
    try:
        return scenarios.load(path)
    except scenarios.ScenarioError as exc:
        _fail(str(exc))


@app.command()
@_one_line_errors
def validate(scenario: Path = typer.Argument(..., help="scenario YAML file")) -> None:
    """Check a scenario file; print one line per problem (exit 2) or a one-line summary."""
    loaded = _load(scenario)
    out_console.print(f"{scenario}: ok: {loaded.name!r}, {loaded.device_count} devices, "
                      f"{loaded.duration:g} s, policy {loaded.policy.name}", markup=False)


@app.command()
@_one_line_errors
def profiles() -> None:
    """List the device, link and server catalogue (sim/catalogue/*.yaml) with the source of every number."""
    from sim.catalogue import DEVICES, LINKS, SERVERS, WAN

    devices = Table(title="device profiles", show_lines=True)
    for column in ("name", "LSTM FLOP/s", "cores", "idle W", "active W", "RAM", "battery", "source"):
        devices.add_column(column, overflow="fold")
    for p in DEVICES.values():
        devices.add_row(p.name, f"{p.lstm_flops_per_s:.3g}", str(p.cores), f"{p.idle_w:g}", f"{p.active_w:g}",
                        (f"{p.ram_bytes / 2**20:.0f} MiB" if p.ram_bytes >= 2**20 else f"{p.ram_bytes / 2**10:.0f} KiB"), "mains" if p.battery_j is None else f"{p.battery_j / 3600:g} Wh",
                        p.source)
    links = Table(title="links (radio power P = a_up*up + a_down*down + base)", show_lines=True)
    for column in ("name", "up", "down", "RTT", "a_up W/Mbps", "a_down W/Mbps", "base W", "promotion",
                   "tail", "source"):
        links.add_column(column, overflow="fold")
    for l in LINKS.values():
        links.add_row(l.name, f"{l.up_bps / 1e6:g} Mbps", f"{l.down_bps / 1e6:g} Mbps", f"{l.rtt_s * 1e3:g} ms",
                      f"{l.a_up_w_per_mbps:g}", f"{l.a_down_w_per_mbps:g}", f"{l.base_w:g}",
                      f"{l.promotion_s:g} s @ {l.promotion_w:g} W", f"{l.tail_s:g} s @ {l.tail_w:g} W", l.source)
    servers = Table(title="servers (power = idle + (max - idle) x utilisation)", show_lines=True)
    for column in ("name", "cores", "FLOP/s per core", "idle W", "max W", "source"):
        servers.add_column(column, overflow="fold")
    for s in SERVERS.values():
        servers.add_row(s.name, str(s.cores), f"{s.core_flops_per_s:.3g}", f"{s.idle_w:g}", f"{s.max_w:g}", s.source)
    wan = Table(title="WAN (edge site <-> cloud)", show_lines=True)
    for column in ("name", "up", "down", "RTT", "source"):
        wan.add_column(column, overflow="fold")
    wan.add_row(WAN.name, f"{WAN.up_bps / 1e6:g} Mbps", f"{WAN.down_bps / 1e6:g} Mbps", f"{WAN.rtt_s * 1e3:g} ms",
                WAN.source)
    for table in (devices, links, servers, wan):
        out_console.print(table)


def _shown_default(default: float | str) -> str:
    return default if isinstance(default, str) else format(default, ".4g")


@app.command()
def policies() -> None:
    """List the offload policies (built-in and installed): rule, parameters with defaults and meaning."""
    from sim.policies import describe

    table = Table(title="offload policies (scenario: policy: {name: NAME, params: {...}})", show_lines=True)
    for column in ("name", "rule", "parameters (default: meaning)"):
        table.add_column(column, overflow="fold")
    for policy in describe():
        params = policy["params"]
        listed = ("(not declared by the plugin)" if params is None else
                  "\n".join(f"{p['name']} = {_shown_default(p['default'])}: {p['doc']}" for p in params) or "-")
        table.add_row(policy["name"], policy["rule"], listed)
    out_console.print(table, markup=False)


def _headline(summary: dict) -> Table:
    table = Table(title=f"{summary['scenario']} ({summary['policy']}, seed {summary['seed']})")
    table.add_column("metric")
    table.add_column("value", justify="right")

    def fmt(value, scale=1.0, unit=""):
        return "-" if value is None else f"{value * scale:.4g}{unit}"

    table.add_row("requests (served / dropped / unfinished)",
                  f"{summary['requests']} ({summary['served']} / {summary['dropped']} / {summary.get('unfinished', 0)})")
    table.add_row("latency mean / p95", f"{fmt(summary['latency_mean_s'], 1e3, ' ms')} / "
                                        f"{fmt(summary['latency_p95_s'], 1e3, ' ms')}")
    table.add_row("deadline misses", fmt(summary["deadline_miss_rate"], 100, " %"))
    table.add_row("energy per request", fmt(summary["energy_per_request_j"], 1e3, " mJ"))
    table.add_row("targets local / edge / cloud",
                  " / ".join(f"{v * 100:.0f}%" for v in summary["share_by_target"].values()))
    table.add_row("forecast MSE / MAE (z)", f"{fmt(summary['forecast_mse'])} / {fmt(summary['forecast_mae'])}")
    table.add_row("persistence MSE / MAE (z)", f"{fmt(summary['persistence_mse'])} / {fmt(summary['persistence_mae'])}")
    by_model = summary.get("forecast_mse_by_model", {})
    if len(by_model) > 1:
        table.add_row("forecast MSE by model", " / ".join(f"{name} {fmt(mse)}" for name, mse in by_model.items()))
    table.add_row("FL rounds (updates aggregated)", f"{summary['fl_rounds']} ({summary['fl_aggregated_updates']})")
    return table


@app.command()
@_one_line_errors
def run(
    scenario: Path = typer.Argument(..., help="scenario YAML file"),
    out: Optional[Path] = typer.Option(None, "--out", help="run directory [default: runs/<name>-seed<N>]"),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, help="override the scenario's seed"),
    policy: Optional[str] = typer.Option(None, "--policy", help="override the scenario's offload policy"),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="draw the run's figures"),
    federation: Optional[bool] = typer.Option(None, "--federation/--no-federation",
                                              help="override federation.enabled"),
) -> None:
    """Simulate SCENARIO and write its run directory."""
    from sim.app.runner import run_scenario, write_run

    loaded = _load(scenario)
    try:
        loaded = scenarios.with_overrides(loaded, seed=seed, policy=policy, federation=federation,
                                          source=str(scenario))
    except scenarios.ScenarioError as exc:
        _fail(str(exc))
    suffix = "" if federation is not False else "-nofl"
    target = out or Path("runs") / f"{run_dir_name(loaded.name)}-seed{loaded.seed}{suffix}"
    _prepare_out(target)
    started = time.perf_counter()
    columns = (TextColumn("[bold]simulating"), BarColumn(), TextColumn("{task.fields[sim]}"), TimeElapsedColumn())
    with _progress(columns) as progress:
        task = progress.add_task("run", total=loaded.duration, sim="")
        result = run_scenario(loaded, progress=lambda now: progress.update(
            task, completed=now, sim=f"{now / 3600:.2f} h of {loaded.duration / 3600:.2f} h"))
    try:
        write_run(result, target, plots=plots)
    except OSError as exc:
        _fail(f"{target}: cannot write the run directory: {exc.strerror or exc}")
    out_console.print(_headline(result.summary))
    out_console.print(f"wrote {target}/ in {time.perf_counter() - started:.1f} s wall time", markup=False)


@app.command()
@_one_line_errors
def compare(
    scenario: Path = typer.Argument(..., help="scenario YAML file"),
    policies: str = typer.Option(..., "--policies", help="comma-separated policy names"),
    seeds: int = typer.Option(5, "--seeds", min=1, help="seeds: the scenario's seed and the next ones"),
    out: Optional[Path] = typer.Option(None, "--out", help="output directory [default: runs/<name>-compare]"),
) -> None:
    """Run each policy on the same scenario and seeds; write comparison.csv and print it with 95% CIs."""
    from sim.app.compare import METRICS, compare as run_comparison
    from sim.policies import registry

    loaded = _load(scenario)
    names = [p.strip() for p in policies.split(",") if p.strip()]
    unknown = [n for n in names if n not in registry()]
    if not names or unknown:
        _fail(f"--policies: unknown policy {', '.join(unknown) or '(none given)'}; allowed: "
              f"{', '.join(sorted(registry()))}")
    target = out or Path("runs") / f"{run_dir_name(loaded.name)}-compare"
    seed_list = [loaded.seed + i for i in range(seeds)]
    for name in names:  # the run directories sim.app.compare.compare writes, checked before any simulation
        for seed in seed_list:
            _prepare_out(target / "runs" / f"{name}-seed{seed}")
    columns = (TextColumn("[bold]comparing"), BarColumn(), TextColumn("{task.fields[last]}"), TimeElapsedColumn())
    with _progress(columns) as progress:
        task = progress.add_task("compare", total=len(names) * len(seed_list), last="")
        rows = run_comparison(loaded, names, seed_list, target,
                              progress=lambda done: progress.update(task, advance=1, last=done))
    table = Table(title=f"{loaded.name}: {len(seed_list)} seeds, mean ± 95% CI")
    table.add_column("policy")
    for name in METRICS:
        table.add_column(name.replace("_", " "), justify="right")
    for row in rows:
        table.add_row(row["policy"], *(f"{row[m]:.4g} ± {row[m + '_ci95']:.2g}" for m in METRICS))
    out_console.print(table)
    from plots.report import write_report

    write_report(sorted(d for d in (target / "runs").iterdir() if not d.name.startswith(".")), target)
    out_console.print(f"wrote {target}/comparison.csv, report.md, report.html and plots/", markup=False)


@app.command()
@_one_line_errors
def plot(
    run_dirs: list[Path] = typer.Argument(..., help="one run directory, or several to compare"),
    out: Optional[Path] = typer.Option(None, "--out", help="comparison output [default: <common parent>/comparison]"),
) -> None:
    """Redraw a run's figures from its files, or compare several runs (figures, report.md, report.html)."""
    from plots.cli import plot_command

    plot_command(run_dirs=run_dirs, out=out)


@app.command()
@_one_line_errors
def sweep(
    sweep_file: Path = typer.Argument(..., help="sweep YAML file"),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster to attach to [default: RAY_ADDRESS, "
                                                                  "else a local Ray]"),
) -> None:
    """Run a grid of scenario x policy x parameters x seeds on Ray; finished runs are skipped; writes sweep.csv."""
    from sim.app.sweep import sweep_command

    sweep_command(sweep_file=sweep_file, address=address)


@app.command()
@_one_line_errors
def calibrate(
    hidden: int = typer.Option(64, help="edge model hidden size"),
    layers: int = typer.Option(2, help="edge model layers"),
    name: str = typer.Option("this-machine", help="name of the new device profile"),
    base: str = typer.Option("raspberry-pi-4", help="catalogue device whose power, cores and RAM it keeps"),
    out: Optional[Path] = typer.Option(None, "--out", help="also write the profile entry (YAML) here"),
) -> None:
    """Measure the edge model's per-inference latency with ONNX Runtime; print a scenario `profiles:` entry."""
    from clients.onnx_export import calibrate_command  # torch loads only for this command

    calibrate_command(hidden=hidden, layers=layers, name=name, base=base, out=out)


def main() -> None:
    from sim.app import interrupts

    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    try:
        app()
    except SystemExit as done:
        # typer ends a KeyboardInterrupt as a silent exit 130: say what an interrupted command left behind
        if interrupts.swallowed_by_typer(done):
            err_console.print("interrupted: no run directory was written for the unfinished run", markup=False)
        interrupts.exit_process(done.code)


if __name__ == "__main__":
    main()
