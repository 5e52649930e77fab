"""Same results as another commit: every bundled scenario, run without federation in this checkout and in REF.

A refactor must change no result. This runs each bundled scenario (sweep files excluded) with federation off
and the same deterministic starting weights (no Flower pretraining, so it takes seconds, not minutes) in the
working tree and in a temporary worktree of REF, and compares the run directories file by file
(rounds.csv, versions.csv, devices.csv, links.csv, battery.csv, summary.json byte for byte; requests.parquet column by
column, so a new column is reported as added, not as a difference). Federated runs are covered by the
bit-identity tests in tests/e2e.
Usage: python bench/same_results.py [--ref HEAD] [--max-hours 2] [--skip metro-scale]
The last line is a JSON object: {"ref": ..., "scenarios": n, "identical": n, "differences": {...}}.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMPARED = ("requests.parquet", "rounds.csv", "versions.csv", "devices.csv", "links.csv", "battery.csv", "summary.json")


def bundled_scenarios(root: Path, skip: frozenset = frozenset()) -> list[Path]:
    return sorted(p for p in (root / "scenarios").glob("*.yaml") if "sweep" not in p.name and p.stem not in skip)


def emit(out: Path, max_hours: float, skip: frozenset = frozenset()) -> None:
    """Run every bundled scenario of the checkout this process imports from; write its run directories."""
    from clients.model import ModelSpec, build_model, get_arrays
    from sim import scenario as scenarios

    try:
        from sim.app.runner import Pretrained, run_scenario, write_run
    except ImportError:  # before the application layer moved out of the engine
        from sim.runner import Pretrained, run_scenario, write_run

    for path in bundled_scenarios(Path.cwd(), skip):
        data = scenarios.load(path).model_dump(mode="json")
        data["federation"]["enabled"] = False
        data["duration"] = f"{min(scenarios.load(path).duration, max_hours * 3600.0)!r}s"
        scenario = scenarios.parse(data, str(path))
        models = scenario.models
        edge = get_arrays(build_model(ModelSpec(**models.edge.model_dump()), scenario.seed))
        cloud = get_arrays(build_model(ModelSpec(**models.cloud.model_dump()), scenario.seed + 1)) \
            if models.cloud is not None else None
        result = run_scenario(scenario, initial=Pretrained(tuple(edge), tuple(cloud) if cloud else None, ()))
        write_run(result, out / path.stem, plots=False)


def digests(run_dir: Path) -> dict[str, str]:
    """A digest per compared file; requests.parquet gives one per column (`requests.parquet:<column>`)."""
    import pyarrow.parquet as pq

    out = {}
    for name in COMPARED:
        path = run_dir / name
        if not path.exists():
            continue
        if name.endswith(".parquet"):
            table = pq.read_table(path)
            for column in table.column_names:
                values = table.column(column).combine_chunks()
                data = b"".join(bytes(b) if b is not None else b"-" for b in values.buffers())
                out[f"{name}:{column}"] = f"{values.type}:" + hashlib.sha256(data).hexdigest()
        else:
            out[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def run_in(checkout: Path, out: Path, max_hours: float, skip: frozenset = frozenset()) -> None:
    env = {**os.environ, "PYTHONPATH": str(checkout), "FLWR_TELEMETRY_ENABLED": "0"}
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--emit", str(out), "--max-hours",
                    str(max_hours), "--skip", ",".join(sorted(skip))], cwd=checkout, env=env, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="HEAD", help="commit to compare the working tree against")
    parser.add_argument("--max-hours", type=float, default=2.0, help="cap each scenario's duration")
    parser.add_argument("--skip", default="", help="scenario names to leave out, comma separated (metro-scale: a "
                        "REF that scores forecasts per row group needs many minutes for it)")
    parser.add_argument("--emit", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    skip = frozenset(name for name in args.skip.split(",") if name)
    if args.emit is not None:
        emit(args.emit, args.max_hours, skip)
        return
    with tempfile.TemporaryDirectory(prefix="same-results-") as tmp:
        tmp_path = Path(tmp)
        ref_tree = tmp_path / "ref"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(ref_tree), args.ref], cwd=ROOT, check=True)
        try:
            run_in(ref_tree, tmp_path / "before", args.max_hours, skip)
            run_in(ROOT, tmp_path / "after", args.max_hours, skip)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(ref_tree)], cwd=ROOT, check=False)
        differences = {}
        names = [p.stem for p in bundled_scenarios(ROOT, skip)]
        for name in names:
            before, after = digests(tmp_path / "before" / name), digests(tmp_path / "after" / name)
            changed = sorted(f for f in before if before[f] != after.get(f))
            added = sorted(set(after) - set(before))
            print(f"{name}: {'identical' if not changed else 'differs in ' + ', '.join(changed)}"
                  + (f" (added: {', '.join(added)})" if added else ""))
            if changed:
                differences[name] = changed
    print(json.dumps({"ref": args.ref, "scenarios": len(names), "identical": len(names) - len(differences),
                      "differences": differences}))


if __name__ == "__main__":
    main()
