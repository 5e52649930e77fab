"""Sweeps: a grid of scenario x policy x parameter values x seeds, run as Ray tasks into resumable run directories.

A sweep file (YAML; relative paths are read from the sweep file's folder):

    name: policies                     # optional; default: the file's stem
    out: ../runs/policies              # one run directory per grid point, plus sweep.csv
    scenarios: [quickstart.yaml]       # one path or a list
    policies:                          # a name, or a name with parameter values (a list = one grid axis)
      - greedy
      - {name: random, params: {p_local: [0.2, 0.8], p_edge: 0.5}}
    seeds: 3                           # a count (seeds 0..2) or a list of seeds
    overrides: {duration: 10min, federation: {enabled: false}}   # merged into every scenario (lists replace)

Runs that need no Flower go to Ray tasks in parallel; if their scenario pretrains (federation.pretrain.rounds > 0),
the driver pretrains first and ships the model to the task. Runs with federation rounds start Flower's own Ray
simulation, so they run one at a time in the driver, after the parallel ones: Ray is never started inside Ray.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import typer

from sim import scenario as scenarios
from sim.app.sweep_file import (ParamValue, PolicyGrid, Run, SweepError, SweepFile,  # noqa: F401  (the sweep API)
                                 load, run_name)
from sim.app.logs import quiet_imported_frameworks, ray_logging_level
from sim.app.output import atomic_file
from plots.groups import ALL_METRICS, mean_ci

if TYPE_CHECKING:
    from sim.app import runner

# energy_per_request_j includes the radio tails a request's transfers left; device_energy_per_request_j adds FL
METRICS = tuple(m.key for m in ALL_METRICS)  # sweep.csv's summary.json fields (plots.groups: the one list)


@dataclass
class SweepReport:
    out: Path
    total: int
    skipped: int
    ran: int = 0
    failed: list[str] = field(default_factory=list)
    csv: Path | None = None
    removed_staging: int = 0


# --- running ---------------------------------------------------------------------------------------

def _staging_dirs(out: Path, runs: list[Run]) -> Iterator[Path]:
    """Leftovers of a killed writer: `.<run>.tmp-*` (and `.<run>.old-*`) next to the run directories."""
    for run in runs:
        for pattern in (f".{run.path.name}.tmp-*", f".{run.path.name}.old-*"):
            yield from out.glob(pattern)
    yield from out.glob(".sweep.csv.tmp-*")
    yield from out.glob(".runs.csv.tmp-*")


def _clean_staging(out: Path, runs: list[Run]) -> int:
    removed = 0
    for leftover in _staging_dirs(out, runs):
        shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(missing_ok=True)
        removed += 1
    return removed


def _check_same(run: Run) -> None:
    """A finished run from a different scenario (the sweep file changed) must not be counted as this one."""
    try:
        existing = scenarios.load(run.path / "scenario.yaml")
    except scenarios.ScenarioError:
        return  # an older schema: trust the name
    if existing != run.scenario:
        raise SweepError(f"{run.path}: finished from a different scenario than this sweep describes; "
                         "delete it or choose another out")


def execute(run: Run, initial: "runner.Pretrained | None" = None) -> dict:
    """Simulate one run and write its directory (no plots); `initial` holds the pretrained models to start from."""
    import torch

    from sim.app import runner

    torch.set_num_threads(1)
    # the driver already pretrained (through Flower): the model is handed in, Flower never starts here
    result = runner.run_scenario(run.scenario, initial=initial)
    runner.write_run(result, run.path, plots=False, provenance=where_this_runs())
    return result.summary


def where_this_runs() -> dict:
    """The machine, process and (inside Ray) the node a run executed on: provenance.json of its directory."""
    import socket

    node = None
    try:
        import ray

        if ray.is_initialized():
            node = ray.get_runtime_context().get_node_id()
    except ImportError:
        pass
    return {"host": socket.gethostname(), "pid": os.getpid(), "ray_node": node}


def _remote_execute():
    import ray

    # SPREAD: on a cluster, runs go to every node rather than filling the driver's node first
    return ray.remote(num_cpus=1, max_retries=0, scheduling_strategy="SPREAD")(execute)


def run_rows(runs: list[Run]) -> list[dict]:
    """One row per grid point of runs.csv: its directory, seed, whether it finished and where it ran."""
    rows = []
    for run in runs:
        where = run.path / "provenance.json"
        seen = json.loads(where.read_text()) if run.done and where.is_file() else {}
        rows.append({"run": run.path.name, "scenario": run.scenario.name, "policy": run.policy,
                     "params": json.dumps(run.params, sort_keys=True), "seed": run.scenario.seed, "done": run.done,
                     "host": seen.get("host", ""), "pid": seen.get("pid", ""), "ray_node": seen.get("ray_node") or ""})
    return rows


def write_csv_atomically(out_csv: Path, rows: list[dict], header: list[str]) -> Path:
    import csv

    with atomic_file(out_csv) as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return out_csv


def aggregate(runs: list[Run], out_csv: Path) -> Path:
    """One row per (scenario, policy, params): mean and 95% CI half-width (Student t) over finished seeds;
    runs.csv next to it: one row per run, with the host, process and Ray node it ran on."""

    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        key = (run.scenario.name, run.policy, json.dumps(run.params, sort_keys=True))
        groups.setdefault(key, [])
        if run.done:
            groups[key].append(json.loads((run.path / "summary.json").read_text()))
    header = ["scenario", "policy", "params", "seeds"]
    for metric in METRICS:
        header += [f"{metric}_mean", f"{metric}_ci95", f"{metric}_n"]
    rows = []
    for (name, policy, params), summaries in groups.items():
        row: dict[str, Any] = {"scenario": name, "policy": policy, "params": params, "seeds": len(summaries)}
        for metric in METRICS:
            values = [float(s[metric]) for s in summaries if s.get(metric) is not None]
            n = len(values)
            mean, half_width = mean_ci(values)
            row[f"{metric}_mean"] = "" if not n else repr(mean)
            row[f"{metric}_ci95"] = "" if n < 2 else repr(half_width)
            row[f"{metric}_n"] = n
        rows.append(row)
    per_run = run_rows(runs)
    write_csv_atomically(out_csv.parent / "runs.csv", per_run, list(per_run[0]) if per_run else ["run"])
    return write_csv_atomically(out_csv, rows, header)


def _lock(out: Path):
    out.mkdir(parents=True, exist_ok=True)
    handle = open(out / ".sweep.lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise SweepError(f"{out}: another sweep is writing into this directory") from None
    return handle


def run_sweep(path: str | Path, *, address: str | None = None, parallel: bool = True, num_cpus: int | None = None,
              out: str | Path | None = None, on_progress: Callable[[Run, str], None] | None = None,
              on_start: Callable[[int, int], None] | None = None) -> SweepReport:
    """Run every unfinished grid point of a sweep file, then write <out>/sweep.csv.

    parallel=False runs everything in this process (no Ray). on_start(total, skipped) is called once,
    on_progress(run, status) after each run with status 'done' or 'failed: <one line>'.
    Raises SweepError for a bad sweep file; KeyboardInterrupt leaves only finished run directories.
    """
    out_dir, runs = load(path, out)
    return run_runs(out_dir, runs, address=address, parallel=parallel, num_cpus=num_cpus, on_progress=on_progress,
                    on_start=on_start)


def run_runs(out_dir: Path, runs: list[Run], *, address: str | None = None, parallel: bool = True,
             num_cpus: int | None = None, on_progress: Callable[[Run, str], None] | None = None,
             on_start: Callable[[int, int], None] | None = None,
             pretrained: Callable[[Run], "runner.Pretrained"] | None = None) -> SweepReport:
    """run_sweep's runner for grid points a caller built (sim.app.sensitivity): the same resumable, atomic runs.

    pretrained(run): the models a run without federation rounds starts from [default: its own pretraining].
    """
    lock = _lock(out_dir)
    try:
        report = SweepReport(out_dir, len(runs), 0, removed_staging=_clean_staging(out_dir, runs))
        pending = []
        for run in runs:
            if run.done:
                _check_same(run)
                report.skipped += 1
            else:
                pending.append(run)
        if on_start:
            on_start(report.total, report.skipped)

        def finished(run: Run, error: BaseException | None) -> None:
            if error is None:
                report.ran += 1
                status = "done"
            else:
                line = f"{run.path.name}: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
                report.failed.append(line)
                status = f"failed: {line}"
            if on_progress:
                on_progress(run, status)

        flower = [r for r in pending if r.needs_flower]
        tasks = [r for r in pending if not r.needs_flower]
        try:
            if parallel and tasks:
                _run_on_ray(tasks, address, num_cpus, finished, pretrained)
            else:
                flower = tasks + flower
            for run in flower:
                try:
                    execute(run, None if pretrained is None or run.needs_flower else pretrained(run))
                except Exception as exc:  # one failed grid point must not lose the others
                    finished(run, exc)
                else:
                    finished(run, None)
        finally:
            # interrupted or not: whatever a killed writer left must not look like a run
            _clean_staging(out_dir, runs)
            report.csv = aggregate(runs, out_dir / "sweep.csv")
        return report
    finally:
        lock.close()


def _run_on_ray(runs: list[Run], address: str | None, num_cpus: int | None,
                finished: Callable[[Run, BaseException | None], None],
                pretrained: Callable[[Run], "runner.Pretrained"] | None = None) -> None:
    import ray

    from sim.app import runner

    # pretraining goes through Flower (its own Ray, started and shut down): do it before our Ray starts
    initial: dict[Path, runner.Pretrained] = {}
    for run in runs:
        if run.scenario.federation.pretrain.rounds > 0:
            initial[run.path] = pretrained(run) if pretrained is not None else runner.pretrained(run.scenario)
    quiet_imported_frameworks()
    started_here = not ray.is_initialized()
    if started_here:
        address = address or os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, log_to_driver=False, logging_level=ray_logging_level())
        else:
            # "local": a Ray of our own, never another process's instance that ray.init would find and join
            ray.init(address="local", num_cpus=num_cpus or os.cpu_count(), include_dashboard=False,
                     log_to_driver=False, logging_level=ray_logging_level())
    remote = _remote_execute()
    refs = {remote.remote(run, initial.get(run.path)): run for run in runs}
    try:
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                run = refs.pop(ref)
                try:
                    ray.get(ref)
                except Exception as exc:
                    cause = getattr(exc, "cause", None) or exc
                    finished(run, cause)
                else:
                    finished(run, None)
    except BaseException:
        # a Ray we started is shut down below, which ends its workers; force-cancelling there races a task that
        # finishes at the same moment, and Ray's core worker then aborts the process on a failed check
        if not started_here:
            for ref in refs:
                ray.cancel(ref, force=True)
        raise
    finally:
        if started_here:
            ray.shutdown()


# --- command line ----------------------------------------------------------------------------------

def sweep_command(
    sweep_file: Path = typer.Argument(..., help="sweep YAML file"),
    address: str | None = typer.Option(None, "--address", help="Ray cluster to attach to [default: RAY_ADDRESS, "
                                                                "else a local Ray]"),
) -> None:
    """Run a grid of scenario x policy x parameters x seeds; finished runs are skipped; writes sweep.csv."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    out = Console(highlight=False, soft_wrap=True)

    def fail(message: str, code: int = 2):
        for line in message.splitlines():
            err.print(f"error: {line}", markup=False)
        raise typer.Exit(code)

    try:
        load(sweep_file)  # a bad sweep file fails here, before anything is drawn or started
    except SweepError as exc:
        fail(str(exc))
    columns = (TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[last]}"),
               TimeElapsedColumn())
    state: dict[str, Any] = {}
    with Progress(*columns, console=err, transient=True) as progress:
        def on_start(total: int, skipped: int) -> None:
            state["task"] = progress.add_task("runs", total=total, completed=skipped, last="")

        def on_progress(run: Run, status: str) -> None:
            progress.update(state["task"], advance=1, last=f"{run.path.name}: {status}")
            if status != "done":
                progress.console.print(f"warning: {status}", markup=False)

        try:
            report = run_sweep(sweep_file, address=address, on_progress=on_progress, on_start=on_start)
        except SweepError as exc:
            progress.stop()
            fail(str(exc))
        except KeyboardInterrupt:
            progress.stop()
            err.print("interrupted: finished run directories are kept, unfinished ones left nothing; "
                      "run the same sweep again to do the rest", markup=False)
            raise typer.Exit(130)
    out.print(f"{report.out}: {report.total} runs: {report.skipped} already finished, {report.ran} ran, "
              f"{len(report.failed)} failed; wrote {report.csv}", markup=False)
    if report.failed:
        raise typer.Exit(1)


if __name__ == "__main__":  # `python -m sim.app.sweep SWEEP.yaml`: the sweep without the rest of the CLI
    _app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    _app.command()(sweep_command)
    _app()
