"""Hostile input through the real CLI: 1,000+ generated bad inputs (YAML bombs, deep nesting, huge numbers,
NaN, odd paths, oversized files, bad traces), each refused with exit 2 and only `error: FILE: ...` lines, no
traceback, each within a time bound, all in one process under an address-space limit.

The inputs run in one subprocess (this file run as a script), which caps its address space with RLIMIT_AS and
calls the typer app in-process through typer.testing.CliRunner: a thousand interpreter start-ups would take
longer than the whole batch. It reports each input's exit code, stderr, exception and wall time as JSON lines.
"""
from __future__ import annotations

import copy
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ADDRESS_SPACE_BYTES = 3 << 30  # the worker's RLIMIT_AS: a bomb that gets through dies with MemoryError
MEMORY_LIMIT_BYTES = 2e9  # EDGEFED_MEMORY_LIMIT_BYTES for the worker: the estimate's verdicts do not depend on the machine
PER_INPUT_S = 5.0
BATCH_TIMEOUT_S = 150
# quickstart without its policy block: the policy registry reads entry points (20 ms a scenario), and the
# generated inputs mutate everything else
BASE = yaml.safe_load((ROOT / "scenarios" / "quickstart.yaml").read_text())
BASE.pop("policy")
NAN, INF = float("nan"), float("inf")
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's when there: writing 760 scenarios takes 1 s less
HEADER = "time_s,up_bps,down_bps\n"
BAD_TRACES = {
    "nan-rate": HEADER + "0,1e6,1e6\n60,nan,1e6\n", "inf-rate": HEADER + "0,inf,1e6\n",
    "negative-rate": HEADER + "0,1e6,-1\n", "zero-rate": HEADER + "0,0,1e6\n", "negative-time": HEADER + "-1,1e6,1e6\n",
    "nan-time": HEADER + "nan,1e6,1e6\n", "inf-time": HEADER + "inf,1e6,1e6\n", "short-row": HEADER + "0,1e6\n",
    "long-row": HEADER + "0,1e6,1e6,7\n", "words": HEADER + "0,fast,1e6\n", "no-rows": HEADER, "empty": "",
    "wrong-columns": "t,up,down\n0,1,1\n", "duplicate-columns": "time_s,time_s,up_bps,down_bps\n0,0,1,1\n",
    "one-huge-field": "x" * 5_000_000, "stray-quote": HEADER + '0,"1e6,1e6\n', "nul": HEADER + "0,1e6\x00,1e6\n",
    "too-large": HEADER + "0,1e6,1e6\n" * 1_100_000,
}


def _bad_values(trace_paths: list[str]) -> dict[tuple, list]:
    """Per field (path in the scenario mapping, `i` for any fleet group): values that are each certainly refused."""
    return {
        ("seed",): [-1, 2**32, 2**48, 2**64, 10**400, 1.5, NAN, "x"],
        ("duration",): ["0s", "-1s", "199d", "1e400s", "nan s", "inf s", 5, None, "9" * 30_000 + "s!", "1h" * 50_000],
        ("fleet", "i", "count"): [0, -5, 10**8, 10**10, 10**400, 2.5, NAN, INF, "many"],
        ("fleet", "i", "workload", "rate"): ["1e9/s", "1e12/min", "0/s", "-1/s", "inf/s", "nan/s", "1e400/s", 5,
                                            "1/parsec", "9" * 40_000 + "/x"],
        ("fleet", "i", "workload", "deadline"): ["0ms", "-1s", "1e400s", NAN],
        ("fleet", "i", "workload", "kind"): ["burst", 1, None],
        ("fleet", "i", "workload"): [{"kind": "bursty", "rate": "1/s", "deadline": "1s", "mean_burst": "1us",
                                      "mean_calm": "1us"}, {"kind": "bursty", "rate": "1/s", "deadline": "1s",
                                                            "burst_ratio": NAN}],
        ("fleet", "i", "cpu_scale"): [0, 1.5, NAN, INF],
        ("fleet", "i", "battery_revive"): [-0.1, 1.1, NAN],
        ("fleet", "i", "battery"): ["0J", "inf Wh", "1e400kWh"],
        ("fleet", "i", "bandwidth_trace"): trace_paths + ["/dev/zero", "/dev/urandom", "/dev/null", "/", "/etc/passwd",
                                                          "/nonexistent/trace.csv", "a\x00b.csv", "x" * 5000,
                                                          "../" * 200 + "etc/passwd"],
        ("fleet", "i", "link"): ["wifi6", "", 5],
        ("fleet", "i", "profile"): ["toaster", "x" * 100_000],
        ("edge", "cores"): [0, 10**7, 10**15, 2**64, 10**400, NAN],
        ("cloud", "cores"): [0, 10**7, 10**15, 2**64, 10**400],
        ("edge", "speed"): [0, -1, INF, NAN],
        ("cloud", "speed"): [0, INF, NAN],
        ("cloud", "wan_up"): ["0bps", "inf Mbps", "1e400Gbps", "fast"],
        ("models", "edge", "hidden"): [0, 10**6, 10**400],
        ("models", "edge", "layers"): [0, 100],
        ("models", "edge", "window"): [1, 10**6],
        ("federation", "clients_per_round"): [0, 10**10, 10**400],
        ("federation", "local_epochs"): [0, 10**6, 10**400],
        ("federation", "learning_rate"): [0, 2, NAN, INF],
        ("federation", "supernodes"): [0, -1, NAN],
        ("federation", "train_span"): ["1000d", "1e15s", "0s"],
        ("federation", "every"): ["0s", NAN],
        ("federation",): [{"rounds": 10**9, "every": "1ms", "round_deadline": "1ms", "first_round_at": "0.001s"},
                          {"pretrain": {"rounds": 10**5}}, {"pretrain": {"rounds": 10**400}},
                          {"pretrain": {"span": "1e15s"}}, {"pretrain": {"local_epochs": 10**7}}],
        ("data", "history"): ["1000d", "1e15s", "0s"],
        ("data", "start"): ["2013-02-30", "2099-01-01", 5],
        ("output", "sample_every"): ["1ms", "1us", "0s"],
        ("output", "request_sample"): [0, 2, NAN],
        ("policy",): [{"name": "random", "params": {"p_local": 10**400}}, {"name": "random", "params": {"p_local": NAN}},
                      {"name": "nope"}, {"name": "x" * 100_000}],
        ("profiles",): [{"big": {"base": "raspberry-pi-4", "cores": 10**7}},
                        {"fast": {"base": "raspberry-pi-4", "lstm_flops_per_s": INF}}, {"p": {"base": "toaster"}}],
        ("name",): [None, [1, 2], {"a": 1}],
    }


def _set(data: dict, path: tuple, value, rng: random.Random) -> None:
    node = data
    for part in path[:-1]:
        node = node[rng.randrange(len(node))] if part == "i" else node.setdefault(part, {})
    node[path[-1]] = value


def _mutated(rng: random.Random, bad: dict[tuple, list]) -> str:
    """The quickstart scenario with 1-3 fields set to values that are each refused."""
    data = copy.deepcopy(BASE)
    for path in rng.sample(sorted(bad), rng.randint(1, 3)):
        _set(data, path, rng.choice(bad[path]), rng)
    return yaml.dump(data, Dumper=DUMPER, allow_unicode=True)


def _alias_bomb(rng: random.Random) -> str:
    width = rng.randint(2, 10)
    depth = next(d for d in range(2, 40) if width ** d > 30_000) + rng.randint(0, 3)
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, depth)]
    where = rng.choice(["name", "description", "fleet", "profiles", "seed", "data", "policy"])
    return "\n".join(lines) + f"\n{where}: *l{depth - 1}\nduration: 1h\n"


def _merge_bomb(rng: random.Random) -> str:
    lines = ["m0: &m0 {a: 1, b: 2}"]
    depth = rng.randint(16, 24)
    lines += [f"m{i}: &m{i} {{<<: [*m{i - 1}], k{i}: [*m{i - 1}, *m{i - 1}]}}" for i in range(1, depth)]
    return "\n".join(lines) + f"\nname: *m{depth - 1}\n"


def _deep(rng: random.Random) -> str:
    depth = rng.choice([65, 100, 1_000, 10_000, 50_000, 200_000])
    kind = rng.choice(["flow-list", "flow-map", "block"])
    if kind == "flow-list":
        return "name: " + "[" * depth + "]" * depth + "\n"
    if kind == "flow-map":
        return "name: " + "{a: " * depth + "1" + "}" * depth + "\n"
    depth = min(depth, 5_000)  # block style: two bytes of indentation a level, under the size limit
    return "name:\n" + "".join("  " * i + "- \n" for i in range(depth)) + "  " * depth + "- x\n"


YAML_ODDITIES = [
    "name: &a [*a]\n", "name: &a {b: *a}\n", "a: &a [*a, *a]\nname: *a\n", "name: *undefined\n",
    "seed: " + "9" * 5000 + "\n", "name: x\ndata: {start: 2013-02-30}\n", "name: 2013-13-45\n",
    "name: !!python/object:os.system x\n", "name: !!binary '%%%'\n", "name: !custom x\n", "name: !!int x\n",
    "name: !!float x\n", "name: !!timestamp x\n", "{a: 1}: b\n", "? [a, b]\n: c\n", "name: x\nname: [\n",
    "%YAML 2.0\n---\nname: x\n", "--- a\n--- b\n", "name: 'unterminated\n", "\t name: x\n",
    "name: x\x00\n", "name: \x07\n", "fleet: [" + "1, " * 25_000 + "1]\n", "a:\n" + "- 1\n" * 25_000,
]


def _garbage(rng: random.Random) -> bytes:
    kind = rng.choice(["bytes", "text", "tokens"])
    if kind == "bytes":
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 400)))
    if kind == "text":
        return "".join(chr(rng.randrange(1, 0x3000)) for _ in range(rng.randint(1, 200))).encode("utf-8", "replace")
    tokens = ["name:", "fleet:", "- ", "{", "}", "[", "]", "&a ", "*a", "!!str ", ": ", "\n", "  ", "duration: 1h",
              "'", '"', "? ", "|", ">", "%YAML 1.1\n", "---\n", "...\n", "seed: 1e999", ".nan", "count: -1", "#"]
    return "".join(rng.choice(tokens) for _ in range(rng.randint(1, 60))).encode()


def _cases(folder: Path) -> list[dict]:
    """Every generated input: CLI arguments, the file its errors must name, a run directory that must not appear."""
    rng = random.Random(13)
    inputs = folder / "in"
    inputs.mkdir()
    traces = []
    for name, text in BAD_TRACES.items():
        path = inputs / f"trace-{name}.csv"
        path.write_text(text, encoding="utf-8")
        traces.append(str(path))
    (inputs / "trace-latin1.csv").write_bytes(HEADER.encode() + b"0,1e6\xff,1e6\n")
    traces.append(str(inputs / "trace-latin1.csv"))
    bad = _bad_values(traces)
    files: list[tuple[str, bytes]] = []
    files += [(f"mutated-{i}", _mutated(rng, bad).encode()) for i in range(760)]
    files += [(f"alias-bomb-{i}", _alias_bomb(rng).encode()) for i in range(40)]
    files += [(f"merge-bomb-{i}", _merge_bomb(rng).encode()) for i in range(10)]
    files += [(f"deep-{i}", _deep(rng).encode()) for i in range(40)]
    files += [(f"oddity-{i}", text.encode()) for i, text in enumerate(YAML_ODDITIES)]
    files += [(f"garbage-{i}", _garbage(rng)) for i in range(150)]
    files += [("big-comment", b"# " + b"x" * 1_200_000 + b"\nname: x\n"),
              ("big-description", b"name: x\ndescription: " + b"y" * 1_500_000 + b"\n"),
              ("utf16", "name: x\n".encode("utf-16")), ("latin1", b"name: caf\xe9\n"), ("empty", b""),
              ("blank", b"   \n\n"), ("comments", b"# only\n# comments\n"), ("list", b"- a\n- b\n"), ("scalar", b"42\n")]
    cases = []
    for name, content in files:
        path = inputs / f"{name}.yaml"
        path.write_bytes(content)
        cases.append({"id": name, "args": ["validate", str(path)], "file": str(path)})
    loop = inputs / "loop.yaml"
    loop.symlink_to(loop)
    for name, path in [("dev-zero", "/dev/zero"), ("dev-urandom", "/dev/urandom"), ("dev-null", "/dev/null"),
                       ("directory", str(inputs)), ("missing", str(inputs / "missing.yaml")), ("symlink-loop", str(loop)),
                       ("name-too-long", str(inputs / ("n" * 300 + ".yaml")))]:
        cases.append({"id": name, "args": ["validate", path], "file": path})
    cases += _run_cases(folder, inputs, traces)
    return cases


def _run_cases(folder: Path, inputs: Path, traces: list[str]) -> list[dict]:
    """`run` must refuse these before simulating: exit 2 and no run directory."""
    refused = {
        "count": {"fleet": [{**BASE["fleet"][0], "count": 10**8}]},
        "rate": {"fleet": [{**BASE["fleet"][0], "workload": {"rate": "1e9/s", "deadline": "1s"}}]},
        "cores": {"edge": {"cores": 10**15}}, "seed": {"seed": 2**64}, "sample-every": {"output": {"sample_every": "1us"}},
        "history": {"data": {"history": "1e15s"}}, "nan-trace": {"fleet": [{**BASE["fleet"][0], "bandwidth_trace": traces[0]}]},
        "dev-zero-trace": {"fleet": [{**BASE["fleet"][0], "bandwidth_trace": "/dev/zero"}]},
    }
    cases = []
    for name, change in refused.items():
        path = inputs / f"run-{name}.yaml"
        path.write_text(yaml.safe_dump({**BASE, **change}))
        out = folder / f"out-{name}"
        cases.append({"id": f"run-{name}", "args": ["run", str(path), "--out", str(out), "--no-plots"],
                      "file": str(path), "out": str(out)})
    quickstart = str(ROOT / "scenarios" / "quickstart.yaml")
    for seed in (2**48, 2**64):  # a seed torch cannot take, from the command line
        out = folder / f"out-seed-{seed}"
        cases.append({"id": f"run-cli-seed-{seed}", "args": ["run", quickstart, "--seed", str(seed), "--out", str(out)],
                      "file": quickstart, "out": str(out)})
    bomb = inputs / "alias-bomb-0.yaml"
    cases.append({"id": "run-alias-bomb", "args": ["run", str(bomb), "--out", str(folder / "out-bomb")],
                  "file": str(bomb), "out": str(folder / "out-bomb")})
    return cases


def _problem(case: dict, result: dict) -> str | None:
    """What is wrong with one input's result, or None."""
    if result["exception"] is not None:
        return f"raised {result['exception']}: {result['traceback'][-600:]}"
    if result["exit_code"] != 2:
        return f"exit code {result['exit_code']}"
    lines = result["stderr"].splitlines()
    if not lines or "Traceback" in result["stderr"]:
        return f"stderr {result['stderr'][-300:]!r}"
    stray = [line for line in lines if not line.startswith(f"error: {case['file']}: ")]
    if stray:
        return f"line not of the form 'error: FILE: ...': {stray[0][:300]!r}"
    if result["seconds"] > PER_INPUT_S:
        return f"took {result['seconds']:.1f} s"
    if case.get("out") and Path(case["out"]).exists():
        return "left a run directory"
    return None


@pytest.mark.slow  # 1000+ inputs in one worker; test_fuzz.py's quick tests cover the same errors in-process
def test_every_generated_bad_input_exits_2_with_one_line_errors_in_bounded_time_and_memory(tmp_path):
    cases = _cases(tmp_path)
    assert len(cases) >= 1000
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    env = {**os.environ, "FLWR_TELEMETRY_ENABLED": "0", "EDGEFED_MEMORY_LIMIT_BYTES": repr(MEMORY_LIMIT_BYTES)}
    proc = subprocess.run([sys.executable, __file__, str(tmp_path / "cases.json"), str(tmp_path / "results.json")],
                          cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=BATCH_TIMEOUT_S)
    lines = (tmp_path / "results.json").read_text().splitlines()
    results = [json.loads(line) for line in lines]
    # the worker writes a line per input as it goes: if it died, the next input is the one that killed it
    assert proc.returncode == 0, (f"the worker died (exit {proc.returncode}) on {cases[len(results)]['id']}: "
                                  f"{proc.stderr[-3000:]}")
    peak = results.pop()["peak_rss_bytes"]
    problems = {case["id"]: _problem(case, result) for case, result in zip(cases, results)}
    problems = {name: problem for name, problem in problems.items() if problem}
    assert not problems, f"{len(problems)} of {len(cases)} inputs: " + "; ".join(
        f"{name}: {problem}" for name, problem in list(problems.items())[:8])
    assert peak < ADDRESS_SPACE_BYTES


# --- the worker: this file run as a script ---------------------------------------------------------------


def _worker(cases_path: str, results_path: str) -> None:
    import resource
    import time
    import traceback

    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_BYTES, ADDRESS_SPACE_BYTES))
    from typer.testing import CliRunner

    import sim.app.cli
    import sim.app.runner  # noqa: F401  (`run` imports it: load it before the clock starts)

    runner = CliRunner()
    with open(results_path, "w") as results:  # one JSON line per input, flushed: a crash leaves the ones before
        for case in json.loads(Path(cases_path).read_text()):
            started = time.perf_counter()
            outcome = runner.invoke(sim.app.cli.app, case["args"])
            crashed = outcome.exception is not None and not isinstance(outcome.exception, SystemExit)
            print(json.dumps({"exit_code": outcome.exit_code, "stderr": outcome.stderr,
                              "exception": repr(outcome.exception)[:300] if crashed else None,
                              "traceback": "".join(traceback.format_exception(*outcome.exc_info)) if crashed else "",
                              "seconds": time.perf_counter() - started}), file=results, flush=True)
        print(json.dumps({"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}), file=results)


if __name__ == "__main__":
    _worker(*sys.argv[1:])
