"""The `edgefed` command line: run, validate, compare, plot, sweep, sensitivity, profiles, policies, schema,
calibrate."""
from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import Callable, Optional

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sim import scenario as scenarios
from sim.app.logs import framework_logs
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


def _numbers_table(title: str, headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> Table:
    """Numbers only, no vertical rules: a catalogue table fits 80 columns (its sources follow it as text)."""
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    for i, header in enumerate(headers):
        table.add_column(header, no_wrap=True, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    return table


def _print_sources(entries: list[tuple[str, str]]) -> None:
    out_console.print("sources:", markup=False)
    for name, source in entries:
        out_console.print(f"  {name}: {source}", markup=False, highlight=False)
    out_console.print()


@app.command()
@_one_line_errors
def profiles() -> None:
    """List the device, link and server catalogue (sim/catalogue/*.yaml) with the source of every number."""
    from sim.catalogue import DEVICES, LINKS, SERVERS, WAN

    def ram(size: float) -> str:
        return f"{size / 2**20:.0f} MiB" if size >= 2**20 else f"{size / 2**10:.0f} KiB"

    out_console.print(_numbers_table(
        "device profiles", ("name", "LSTM\nFLOP/s", "cores", "idle\nW", "active\nW", "RAM", "battery"),
        [(p.name, f"{p.lstm_flops_per_s:.3g}", str(p.cores), f"{p.idle_w:g}", f"{p.active_w:g}", ram(p.ram_bytes),
          "mains" if p.battery_j is None else f"{p.battery_j / 3600:g} Wh") for p in DEVICES.values()]))
    _print_sources([(p.name, p.source) for p in DEVICES.values()])
    out_console.print(_numbers_table("links", ("name", "up\nMbps", "down\nMbps", "RTT\nms"),
                                     [(l.name, f"{l.up_bps / 1e6:g}", f"{l.down_bps / 1e6:g}", f"{l.rtt_s * 1e3:g}")
                                      for l in LINKS.values()]))
    out_console.print(_numbers_table(
        "link radio power: P = a_up x up + a_down x down + base (up, down in Mbps)",
        ("name", "a_up\nW/Mbps", "a_down\nW/Mbps", "base\nW", "promotion\ns", "promotion\nW", "tail\ns", "tail\nW"),
        [(l.name, f"{l.a_up_w_per_mbps:.3g}", f"{l.a_down_w_per_mbps:.3g}", f"{l.base_w:.3g}", f"{l.promotion_s:.3g}",
          f"{l.promotion_w:.3g}", f"{l.tail_s:.3g}", f"{l.tail_w:.3g}") for l in LINKS.values()]))
    _print_sources([(l.name, l.source) for l in LINKS.values()])
    out_console.print(_numbers_table(
        "servers: power = idle + (max - idle) x utilisation", ("name", "cores", "FLOP/s\nper core", "idle\nW", "max\nW"),
        [(v.name, str(v.cores), f"{v.core_flops_per_s:.3g}", f"{v.idle_w:g}", f"{v.max_w:g}") for v in SERVERS.values()]))
    _print_sources([(v.name, v.source) for v in SERVERS.values()])
    out_console.print(_numbers_table("WAN (edge site <-> cloud)", ("name", "up\nMbps", "down\nMbps", "RTT\nms"),
                                     [(WAN.name, f"{WAN.up_bps / 1e6:g}", f"{WAN.down_bps / 1e6:g}",
                                       f"{WAN.rtt_s * 1e3:g}")]))
    _print_sources([(WAN.name, WAN.source)])


def _shown_default(default: float | str) -> str:
    return default if isinstance(default, str) else format(default, ".4g")


@app.command()
def policies(markdown: bool = typer.Option(False, "--markdown", help="the built-in policies' reference page "
                                                                   "instead (docs/policy-reference.md)")) -> None:
    """List the offload policies (built-in and installed): rule, parameters with defaults and meaning."""
    from sim.policies import describe

    if markdown:
        from sim.app.policy_reference import policy_markdown

        typer.echo(policy_markdown(), nl=False)
        return

    table = Table(title="offload policies (scenario: policy: {name: NAME, params: {...}})", show_lines=True)
    for column in ("name", "rule", "parameters (default: meaning)"):
        table.add_column(column, overflow="fold")
    for policy in describe():
        params = policy["params"]
        listed = ("(not declared by the plugin)" if params is None else
                  "\n".join(f"{p['name']} = {_shown_default(p['default'])}: {p['doc']}" for p in params) or "-")
        table.add_row(policy["name"], policy["rule"], listed)
    out_console.print(table, markup=False)


@app.command()
def schema(markdown: bool = typer.Option(False, "--markdown", help="the scenario reference page instead "
                                                                 "(docs/scenario-reference.md)")) -> None:
    """Print the scenario file's JSON Schema (for editors' YAML language servers), or its reference page."""
    from sim.app.schema import reference_markdown, schema_json

    typer.echo(reference_markdown() if markdown else schema_json(), nl=False)


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
    backend: Optional[str] = typer.Option(None, "--backend", help="override federation.backend: inprocess "
                                          "(ClientApps in this process), ray (Flower's simulation engine) or auto"),
    verbose: bool = typer.Option(False, "--verbose", help="show Flower's and Ray's log lines"),
) -> None:
    """Simulate SCENARIO and write its run directory."""
    from server.coordinator import FederationFailed
    from sim.app.runner import run_scenario, write_run

    loaded = _load(scenario)
    try:
        loaded = scenarios.with_overrides(loaded, seed=seed, policy=policy, federation=federation, backend=backend,
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
        with framework_logs(verbose):
            try:
                result = run_scenario(loaded, progress=lambda now: progress.update(
                    task, completed=now, sim=f"{now / 3600:.2f} h of {loaded.duration / 3600:.2f} h"))
            except FederationFailed as exc:  # every device failed: what they reported, not a traceback
                _fail(f"{scenario}: {exc}", 1)
    try:
        write_run(result, target, plots=plots)
    except OSError as exc:
        _fail(f"{target}: cannot write the run directory: {exc.strerror or exc}")
    out_console.print(_headline(result.summary))
    out_console.print(f"pretrained model: {result.pretrained_note}", markup=False)
    out_console.print(f"wrote {target}/ in {time.perf_counter() - started:.1f} s wall time", markup=False)


# the comparison's columns in a terminal (every metric is in comparison.csv): header lines, metric
SHOWN_METRICS = (("latency\nmean ms", "latency_mean_ms"), ("latency\np95 ms", "latency_p95_ms"),
                 ("miss\n%", "deadline_miss_pct"), ("energy\nmJ/req", "energy_per_request_mj"),
                 ("forecast\nMSE", "forecast_mse"), ("dropped", "dropped"))


def comparison_table(title: str, rows: list[dict]) -> Table:
    """One row per policy, the mean over seeds above its 95% CI: six metrics fit 80 columns."""
    table = Table(title=title, caption="miss: deadline misses; energy per served request; forecast MSE in z units; all metrics: "
                          "comparison.csv", box=box.SIMPLE_HEAD, pad_edge=False,
                  title_justify="left", caption_justify="left")
    table.add_column("policy", no_wrap=True)
    for header, _ in SHOWN_METRICS:
        table.add_column(header, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(row["policy"], *(f"{_compact(row[m], 4)}\n± {_compact(row[m + '_ci95'], 2)}"
                                       for _, m in SHOWN_METRICS))
    return table


def _compact(value: float, digits: int) -> str:
    """At most `digits` significant digits and 8 characters: 123456.7 -> '1.23e5', not '1.235e+05'."""
    text = f"{value:.{digits}g}"
    if "e" not in text:
        return text
    mantissa, exponent = f"{value:.{min(digits, 3) - 1}e}".split("e")
    return f"{mantissa}e{int(exponent)}"


@app.command()
@_one_line_errors
def compare(
    scenario: Path = typer.Argument(..., help="scenario YAML file"),
    policies: str = typer.Option(..., "--policies", help="comma-separated policy names"),
    seeds: int = typer.Option(5, "--seeds", min=1, help="seeds: the scenario's seed and the next ones"),
    out: Optional[Path] = typer.Option(None, "--out", help="output directory [default: runs/<name>-compare]"),
    verbose: bool = typer.Option(False, "--verbose", help="show Flower's and Ray's log lines"),
) -> None:
    """Run each policy on the same scenario and seeds; write comparison.csv and print it with 95% CIs."""
    from sim.app.compare import compare as run_comparison
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
        with framework_logs(verbose):
            rows = run_comparison(loaded, names, seed_list, target,
                                  progress=lambda done: progress.update(task, advance=1, last=done))
    out_console.print(comparison_table(f"{loaded.name}: {len(seed_list)} seeds, mean ± 95% CI", rows))
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
    verbose: bool = typer.Option(False, "--verbose", help="show Flower's and Ray's log lines"),
) -> None:
    """Run a grid of scenario x policy x parameters x seeds on Ray; finished runs are skipped; writes sweep.csv."""
    from sim.app.sweep import sweep_command

    with framework_logs(verbose):
        sweep_command(sweep_file=sweep_file, address=address)


@app.command()
@_one_line_errors
def sensitivity(
    scenario: Path = typer.Argument(..., help="scenario YAML file"),
    policies: str = typer.Option(..., "--policies", help="comma-separated policy names (two or more)"),
    vary: list[str] = typer.Option([], "--vary", help="also vary this number (repeatable): profiles.<profile>.<field>, "
                                                      "links.<link>.<field>, or a scenario path such as edge.speed"),
    assumed: bool = typer.Option(True, "--assumed/--no-assumed", help="vary the assumed catalogue constants it uses"),
    factors: str = typer.Option("0.5,2", "--factors", help="comma-separated factors > 0"),
    seeds: int = typer.Option(3, "--seeds", min=1, help="seeds: the scenario's seed and the next ones"),
    federation: Optional[bool] = typer.Option(None, "--federation/--no-federation", help="override federation.enabled"),
    duration: Optional[str] = typer.Option(None, "--duration", help="override the scenario's duration (e.g. 3min)"),
    out: Optional[Path] = typer.Option(None, "--out", help="output directory [default: runs/<name>-sensitivity]"),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster [default: RAY_ADDRESS, else local]"),
    verbose: bool = typer.Option(False, "--verbose", help="show Flower's and Ray's log lines"),
) -> None:
    """Vary assumed constants by factors on the same seeds; report which latencies, energies and rankings change."""
    from sim.app.sensitivity import sensitivity_command

    with framework_logs(verbose):
        sensitivity_command(scenario, policies, vary, assumed, factors, seeds, federation, duration, out, address)


@app.command()
@_one_line_errors
def calibrate(
    hidden: int = typer.Option(64, help="edge model hidden size"),
    layers: int = typer.Option(2, help="edge model layers"),
    name: str = typer.Option("this-machine", help="name of the new device profile"),
    base: str = typer.Option("raspberry-pi-4", help="catalogue device whose power, cores and RAM it keeps"),
    out: Optional[Path] = typer.Option(None, "--out", help="also write the profile entry (YAML) here"),
    runtime: str = typer.Option("onnx", "--runtime", help="onnx (ONNX Runtime) or litert (LiteRT, TensorFlow Lite)"),
) -> None:
    """Measure the edge model's per-inference latency with ONNX Runtime or LiteRT; print a `profiles:` entry."""
    if runtime not in ("onnx", "litert"):
        _fail(f"--runtime: unknown runtime {runtime!r}; allowed: onnx, litert")
    if runtime == "litert":
        from clients.litert_export import calibrate_command as litert_calibrate  # torch loads only here

        litert_calibrate(hidden=hidden, layers=layers, name=name, base=base, out=out)
        return
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
