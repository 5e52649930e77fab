"""Fuzzing: generated bad or extreme scenarios either load or fail with one-line ScenarioErrors, and short runs
of valid extreme scenarios finish with a complete run directory (or none): no other exception, no traceback."""
from __future__ import annotations

import copy
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sim import scenario as scenarios

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = yaml.safe_load((ROOT / "scenarios" / "quickstart.yaml").read_text())
RUN_FILES = {"scenario.yaml", "summary.json", "requests.parquet", "rounds.csv", "round_clients.csv", "devices.csv"}


def _paths(node, prefix=()) -> list[tuple]:
    """Every key path in the quickstart scenario (inner nodes and leaves)."""
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, prefix + (i,))
    return found


PATHS = [p for p in _paths(QUICKSTART) if p]
UNITS = ["s", "ms", "us", "min", "h", "d", "Mbps", "kbps", "bps", "J", "Wh", "mWh", "W", "mW", "/s", "/min", "/h",
         "parsec", "", " s", "S", "MS", "/", "/ms", "Hz", "%", "µs"]
numbers = st.one_of(
    st.integers(min_value=-10**30, max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1, 0.0, -0.0, 1e-320, 1e308, 2**63, -2**63, 10**400]),
)
unit_strings = st.builds(lambda n, u: f"{n}{u}", st.one_of(numbers, st.text(max_size=4)), st.sampled_from(UNITS))
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=30), unit_strings,
                    st.sampled_from(["lstm", "gru", "wifi", "lte", "fedavg", "greedy", "random", "2013-06-03",
                                     "2099-01-01", "raspberry-pi-4", "poisson", "bursty", "\x00", "\u202e", "🙂"]))
# Keys with line breaks (\n, \r, \u2028, ...) are left out here: the loader prints keys raw today, which splits
# a problem over two lines (test_keys_with_line_breaks_stay_on_one_line, expected to fail until fixed).
keys = st.text(max_size=12).filter(lambda k: k == "".join(k.splitlines()))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(keys, inner, max_size=3)),
                      max_leaves=12)


def _deep(depth: int):
    node: object = "leaf"
    for _ in range(depth):
        node = {"a": [node]}
    return node


@st.composite
def mutated(draw) -> object:
    """The quickstart scenario with 1-4 mutations: replaced values, deleted keys, unknown keys, deep nesting."""
    if draw(st.integers(0, 30)) == 0:  # sometimes not a mapping at all
        return draw(values)
    data = copy.deepcopy(QUICKSTART)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(PATHS))
        parent = data
        try:
            for part in path[:-1]:
                parent = parent[part]
            if not isinstance(parent, (dict, list)):
                continue
            key = path[-1]
            if isinstance(parent, list) and key >= len(parent):
                continue
            if isinstance(parent, dict) and key not in parent:
                continue
        except (KeyError, IndexError, TypeError):
            continue
        op = draw(st.sampled_from(["replace", "replace", "replace", "delete", "unknown", "deep", "unit"]))
        if op == "replace":
            parent[key] = draw(values)
        elif op == "delete":
            del parent[key]
        elif op == "unknown" and isinstance(parent, dict):
            parent[draw(keys.filter(bool))] = draw(values)
        elif op == "deep":
            parent[key] = _deep(draw(st.integers(10, 300)))
        elif op == "unit":
            parent[key] = draw(unit_strings)
    return data


def _check_error(exc: scenarios.ScenarioError, source: str) -> None:
    lines = str(exc).splitlines()
    assert lines, "empty ScenarioError"
    for line in lines:
        assert line.startswith(f"{source}: "), line


def _rejects_with_one_line_errors_or_reloads(data):
    try:
        loaded = scenarios.parse(data, "fuzz.yaml")
    except scenarios.ScenarioError as exc:
        event("rejected")
        _check_error(exc, "fuzz.yaml")
        return
    event("accepted")
    # accepted: the resolved scenario must reload to the same scenario
    assert scenarios.parse(yaml.safe_load(scenarios.dump(loaded)), "fuzz.yaml") == loaded


# the quick subset tries 150 mutations (about 8 s); the full suite 900
test_parse_rejects_bad_scenarios_with_one_line_errors = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])(
    given(mutated())(_rejects_with_one_line_errors_or_reloads))
test_parse_rejects_bad_scenarios_thoroughly = pytest.mark.slow(settings(
    max_examples=900, deadline=None, suppress_health_check=[HealthCheck.too_slow])(
    given(mutated())(_rejects_with_one_line_errors_or_reloads)))


@pytest.mark.parametrize("key", ["\r", "a\nb", "\u2028"])
@pytest.mark.parametrize("where", ["top", "policy-param"])
def test_keys_with_line_breaks_stay_on_one_line(key, where):
    data = copy.deepcopy(QUICKSTART)
    if where == "top":
        data[key] = 1
    else:
        data["policy"] = {"name": "random", "params": {key: 1}}
    with pytest.raises(scenarios.ScenarioError) as info:
        scenarios.parse(data, "fuzz.yaml")
    assert len(str(info.value).splitlines()) == 1, str(info.value)


TEXTS = st.one_of(
    st.builds(lambda d: yaml.safe_dump(d, allow_unicode=True), mutated()),
    st.text(max_size=200),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    st.sampled_from(["", "---\n...", "a: [1, 2", "{", "- -\n -", "name: *x", "!!python/object:os.system x",
                     "a: !!binary foo", "\t\tname: x", "? [a]\n: b", "key: value\nkey: other"]),
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXTS, st.booleans())
def test_load_rejects_bad_files_with_one_line_errors(text, raw_bytes):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.yaml"
        if raw_bytes:
            path.write_bytes(text.encode("utf-8", "surrogatepass")[:150] + b"\xff\xfe")
        else:
            path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            scenarios.load(path)
        except scenarios.ScenarioError as exc:
            _check_error(exc, str(path))


# --- short runs of valid extreme scenarios ---------------------------------------------------------

PROFILES = ["mcu-cortex-m4", "raspberry-pi-4", "jetson-nano", "jetson-orin-nano", "smartphone", "iot-gateway"]
LINKS = ["lte", "wifi", "5g", "nb-iot"]
MAX_REQUESTS = 4000


@st.composite
def extreme(draw) -> dict:
    duration_s = draw(st.sampled_from([1, 2, 7, 30, 59, 60, 61, 150, 300]))
    groups = draw(st.integers(1, 3))
    per_group_budget = MAX_REQUESTS / groups / duration_s
    fleet = []
    for _ in range(groups):
        count = draw(st.integers(1, 3 - groups + 1))
        rate = min(draw(st.sampled_from([1e-6, 1e-3, 0.01, 0.5, 1, 10, 50, 1e3, 1e6])), per_group_budget / count)
        group = {"profile": draw(st.sampled_from(PROFILES)), "count": count, "link": draw(st.sampled_from(LINKS)),
                 "workload": {"kind": draw(st.sampled_from(["poisson", "periodic", "bursty"])), "rate": f"{rate!r}/s",
                              "deadline": draw(st.sampled_from(["1us", "1ms", "50ms", "1s", "1h"])),
                              "burst_ratio": draw(st.sampled_from([1.0, 2.0, 100.0])),
                              "mean_burst": draw(st.sampled_from(["1ms", "1s", "1h"])),
                              "mean_calm": draw(st.sampled_from(["1ms", "1s", "1h"]))},
                 "cpu_scale": draw(st.sampled_from([1e-3, 0.5, 1.0])),
                 "battery_revive": draw(st.sampled_from([0.0, 0.2, 1.0]))}
        if draw(st.booleans()):
            group["battery"] = draw(st.sampled_from(["1mJ", "1J", "10Wh"]))
        if draw(st.booleans()):
            group["harvest"] = {"peak": draw(st.sampled_from(["1mW", "1W", "1kW"]))}
        fleet.append(group)
    policy = draw(st.sampled_from([{"name": "local"}, {"name": "edge"}, {"name": "cloud"}, {"name": "greedy"},
                                   {"name": "random", "params": {"p_local": 0.0, "p_edge": 1.0, "p_cloud": 3.0}}]))
    return {
        "name": draw(st.text(min_size=1, max_size=20)), "seed": draw(st.integers(0, 2**31)),
        "duration": f"{duration_s}s", "policy": policy, "fleet": fleet,
        "edge": {"cores": draw(st.sampled_from([1, 64])), "speed": draw(st.sampled_from([1e3, 5e10, 1e15]))},
        "cloud": {"cores": draw(st.sampled_from([1, 1024])), "wan_up": draw(st.sampled_from(["1kbps", "10Gbps"])),
                  "wan_down": draw(st.sampled_from(["1kbps", "10Gbps"])),
                  "wan_rtt": draw(st.sampled_from(["1us", "40ms", "10s"]))},
        "models": {"edge": {"cell": draw(st.sampled_from(["lstm", "gru"])), "hidden": draw(st.sampled_from([1, 8, 32])),
                            "layers": draw(st.sampled_from([1, 2])), "window": draw(st.sampled_from([2, 24, 48])),
                            "calendar": draw(st.booleans())},
                   "int8_on_device": draw(st.booleans())},
        "federation": {"enabled": False, "pretrain": {"rounds": 0}},
        "data": {"start": draw(st.sampled_from(["2012-11-01", "2013-06-03", "2013-12-31"])),
                 "history": draw(st.sampled_from(["1d", "30d", "120d"]))},
    }


@pytest.fixture(scope="module")
def run_root(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz-runs")


def _extreme_run_writes_a_complete_run_directory(run_root, data):
    import torch

    from sim.app.runner import run_scenario, write_run

    torch.set_num_threads(1)
    try:
        scenario = scenarios.parse(data, "fuzz.yaml")
    except scenarios.ScenarioError as exc:
        event("rejected by the loader")
        _check_error(exc, "fuzz.yaml")
        return
    event("simulated")
    out = Path(tempfile.mkdtemp(dir=run_root)) / "run"
    try:
        result = run_scenario(scenario)
        write_run(result, out, plots=False)
    except scenarios.ScenarioError as exc:
        _check_error(exc, "fuzz.yaml")
    if out.exists():
        assert RUN_FILES <= {p.name for p in out.iterdir()}
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")], "staging directory left behind"


_EXTREME = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
# 8 simulated runs in the quick subset, 30 in the full suite
test_extreme_short_runs_write_complete_run_directories = settings(max_examples=8, **_EXTREME)(
    given(data=extreme())(_extreme_run_writes_a_complete_run_directory))
test_extreme_short_runs_thoroughly = pytest.mark.slow(settings(max_examples=30, **_EXTREME)(
    given(data=extreme())(_extreme_run_writes_a_complete_run_directory)))


def test_cli_run_of_bad_file_exits_2_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nduration: -5 parsecs\nfleet: [{profile: toaster, count: 0}]\nsurprise: 1\n")
    proc = subprocess.run([sys.executable, "-m", "sim.app.cli", "run", str(bad), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "FLWR_TELEMETRY_ENABLED": "0"})
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines and all(line.startswith(f"error: {bad}: ") for line in lines), lines
    assert not (tmp_path / "out").exists()
