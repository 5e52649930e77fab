"""What a scenario may ask of this process, checked before anything is allocated.

Scenario and trace files are read with a size limit; YAML is composed with a cap on nesting and on what
anchors and aliases expand to; numbers that become loops have bounds; and a run's memory is estimated with
arithmetic from the scenario and compared with the memory this machine has available. Every refusal is a
LimitError (a ValueError) whose text names what is allowed; sim.scenario adds the file and the field.
"""
from __future__ import annotations

import math
import os
import re
import reprlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import yaml

from sim.recorder import COLUMNS

# --- files and YAML -------------------------------------------------------------------------------------

MAX_SCENARIO_BYTES = 1_000_000  # the largest bundled scenario, city-scale.yaml, is 4 kB
MAX_TRACE_BYTES = 10_000_000  # a day of one row a second is about 3 MB
# composed, and after alias expansion; the bundled scenarios have fewer than 200. Composing 100,000 nodes took
# 3.8 s with PyYAML's Python scanner and 0.8 s with libyaml's: the cap also bounds how long a refusal takes.
MAX_YAML_NODES = 20_000
MAX_YAML_DEPTH = 64  # the bundled scenarios nest 5 levels deep

# --- numbers that become allocations or loops ------------------------------------------------------------

MAX_SEED = 2**32 - 1  # ClientApps seed torch with seed*100003 + ... (at most 2**64 - 1): 2**48 lost every update
MAX_CORES = 1_000_000  # a FifoServer holds one float per core
MAX_DEVICES = 10**9  # per fleet group; the memory estimate refuses far fewer on any real machine
MAX_LOCAL_EPOCHS = 1_000
MAX_ROUNDS = 10_000  # pretraining rounds, and deployment rounds that fit into the run
MAX_SUPERNODES = 10_000  # Flower's in-memory LinkState costs O(n^2) per message round (2,000 nodes: 31 s)
MAX_DATA_SPAN_S = 730 * 86400.0  # data.history and training spans: the data set covers 14 months
MAX_SAMPLES = 100_000  # links.csv / battery.csv samples in a run
MAX_BURST_SWITCHES = 1e8  # bursty burst/calm switches in a run: each is a few numpy draws

# --- memory per thing (bytes) ------------------------------------------------------------------------------

# One request row: the recorder's columns (50 B, preallocated for 1.05x the expected count), the columns
# World.table() derives after the run (compute_s, propagation_s, bytes_up, hour, deadline_s: 4 B each; site,
# cell, forwarded, cloud: 2 B each), and scoring and summary temporaries. Measured: peak RSS of a run plus
# write_run grows 75 B per request (1M to 3M requests, 100 devices, output.requests: all).
RECORDED_ROW_BYTES = sum(np.dtype(kind).itemsize for kind in COLUMNS.values())
DERIVED_ROW_BYTES = 28
REQUEST_BYTES = RECORDED_ROW_BYTES * 1.05 + DERIVED_ROW_BYTES + 8
# a streamed run (sim.spill, output.stream) keeps only the served requests' latencies (float32) for the exact p95
STREAMED_REQUEST_BYTES = 4
# output.stream unset: a run streams when it expects more rows than this (about 0.9 GB held in memory)
AUTO_STREAM_ROWS = 20_000_000


def streams(scenario, expected_rows: float) -> bool:
    """Whether a run streams its request table: output.stream, else above AUTO_STREAM_ROWS expected rows."""
    wanted = scenario.output.stream
    return wanted if wanted is not None else expected_rows > AUTO_STREAM_ROWS
# One device. Measured with tracemalloc: building a World of 1k and 10k devices (four profiles and links)
# peaks at 1.52 MB and 12.4 MB (1.21 kB a device more); a whole run_scenario without federation and without
# requests at 4.9 MB and 19.0 MB (1.56 kB a device more).
DEVICE_BYTES = 2_000
CORE_BYTES = 8  # a list slot of FifoServer.free_at
# One arrival row while its chunk is drawn and handed to the calendar as lists: measured 120-136 B (tracemalloc
# peak of one chunk of 1M rows: poisson, bursty, periodic).
CHUNK_ROW_BYTES = 140
# The rows workload.arrival_chunks aims at per chunk (its default); chunks are at least 1 s long.
TARGET_PER_CHUNK = 1 << 16
SWITCH_BYTES = 250  # a burst or calm sojourn inside one chunk: two small numpy arrays (measured 243 B)
SAMPLE_ROW_BYTES = 400  # a links.csv or battery.csv row as a dict (measured: 264 B and 408 B)
# The interpreter with numpy, simpy, torch and pyarrow imported: 343 MB peak RSS for a run of 1,000 requests.
BASE_BYTES = 350e6
MEMORY_OVERRIDE = "EDGEFED_MEMORY_LIMIT_BYTES"  # bytes to assume available instead of MemAvailable

# what a scenario field is compared with when it decides which field is most responsible for the requests
TYPICAL = {"count": 1_000, "rate": 1.0, "duration": 86400.0, "sojourn": 60.0}


class LimitError(ValueError):
    """Input beyond what edgefed reads or runs; str() says what is allowed."""


_SHORT = reprlib.Repr()
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxlevel = 120, 120, 6, 6, 3


def shown(value: Any) -> str:
    """repr() cut to about a line: error messages echo what they were given, however large."""
    return _SHORT.repr(value)


def format_bytes(count: float) -> str:
    """1.4e14 -> '140 TB' (decimal units)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(count) < 1000 or unit == "PB":
            return f"{count:.3g} {unit}"
        count /= 1000


def read_bounded(path, limit: int, what: str) -> bytes:
    """The bytes of `path`, reading at most limit + 1 of them (devices such as /dev/zero never end)."""
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
        size = os.fstat(handle.fileno()).st_size
    if len(data) > limit:
        if size <= limit:  # a device or a pipe: no size of its own
            told = f"has more than {format_bytes(limit)}"
        else:  # exact counts where rounding would print the same size twice
            told = (f"is {format_bytes(size)}" if format_bytes(size) != format_bytes(limit)
                    else f"is {size:,} bytes, over {limit:,}")
        raise LimitError(f"{what} {told}; at most {format_bytes(limit)} is read")
    return data


def read_problem(exc: Exception) -> str:
    """Why a file could not be read, in a few words: 'No such file or directory', 'not UTF-8 text (byte 7)'."""
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.start})"
    if isinstance(exc, OSError):
        return exc.strerror or exc.__class__.__name__
    return str(exc)  # ValueError from open(): 'embedded null byte'


def _nesting_error(mark) -> LimitError:
    return LimitError(f"YAML nesting deeper than {MAX_YAML_DEPTH} levels (at line {mark.line + 1}, "
                      f"column {mark.column + 1})")


class _Bounds:
    """What both bounded loaders add to PyYAML's safe loading: refuse deep nesting and documents whose anchors
    and aliases expand past MAX_YAML_NODES, before anything is constructed.

    Aliases stay allowed (a workload shared by fleet groups is ordinary YAML); what they expand to is what
    validation and error messages walk, so that is what is counted.
    """

    _depth = 0
    _composed = 0

    def compose_node(self, parent, index):
        # the composer recurses once per level: a cap here comes long before Python's recursion limit
        self._depth += 1
        self._composed += 1
        if self._depth > MAX_YAML_DEPTH:
            raise _nesting_error(self.peek_event().start_mark)
        if self._composed > MAX_YAML_NODES:
            mark = self.peek_event().start_mark
            raise LimitError(f"YAML with more than {MAX_YAML_NODES:,} nodes (at line {mark.line + 1}, "
                             f"column {mark.column + 1})")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self):
        node = super().compose_document()
        _check_expansion(node)
        return node

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        # int('9' * 5000), date(2013, 2, 30), and PyYAML's own slips ('!!timestamp x': AttributeError): a place
        except (ValueError, OverflowError, TypeError, AttributeError) as exc:
            problem = str(exc).split(";")[0]  # (drop Python's hint about sys.set_int_max_str_digits)
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark) from None


class _BoundedPythonLoader(_Bounds, yaml.SafeLoader):
    """The pure-Python loader, for installs of PyYAML without libyaml."""

    def fetch_flow_collection_start(self, TokenClass):
        # '[' and '{' nest in the scanner first, which rescans its pending keys a level at a time: refuse early
        if self.flow_level >= MAX_YAML_DEPTH:
            raise _nesting_error(self.get_mark())
        super().fetch_flow_collection_start(TokenClass)


if yaml.__with_libyaml__:
    class _BoundedCLoader(_Bounds, yaml.composer.Composer, yaml.cyaml.CParser, yaml.constructor.SafeConstructor,
                          yaml.resolver.Resolver):
        """libyaml scans and parses (6x faster than PyYAML's Python scanner); composing stays in Python, bounded."""

        def __init__(self, stream):
            yaml.cyaml.CParser.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

LOADER = _BoundedCLoader if yaml.__with_libyaml__ else _BoundedPythonLoader


def _check_expansion(root: yaml.Node) -> None:
    """Walk the document as aliases expand it, stopping at MAX_YAML_NODES (cycles stop there too)."""
    pending: list[tuple[yaml.Node, str]] = [(root, "(top level)")]
    walked = 0
    while pending:
        node, where = pending.pop()
        walked += 1
        if walked > MAX_YAML_NODES:
            raise LimitError(f"{where}: expands to more than {MAX_YAML_NODES:,} YAML nodes through anchors "
                             "and aliases")
        if isinstance(node, yaml.SequenceNode):
            pending.extend((child, where) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                pending += [(key, where), (value, _key_name(key) if node is root else where)]


def _key_name(key: yaml.Node) -> str:
    text = key.value if isinstance(key, yaml.ScalarNode) else "(a complex key)"
    return text if re.fullmatch(r"[\w.-]+", text) else shown(text)


def load_yaml(text: str, loader: type = LOADER) -> Any:
    """yaml.safe_load with the bounds above: LimitError past them, yaml.YAMLError for bad YAML."""
    loader = loader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


# --- a run's needs ------------------------------------------------------------------------------------------


@dataclass
class RunEstimate:
    """What a run needs: requests, devices, and memory in bytes split by the field most responsible."""

    requests: float = 0.0
    devices: int = 0
    terms: dict[str, float] = field(default_factory=dict)

    def add(self, where: str, nbytes: float) -> None:
        self.terms[where] = self.terms.get(where, 0.0) + nbytes

    @property
    def bytes(self) -> float:
        return BASE_BYTES + sum(self.terms.values())

    @property
    def culprit(self) -> str:
        return max(self.terms, key=self.terms.get)


def _furthest_from_typical(scenario, g: int, factor: str) -> str:
    """Of the group's count, `factor` (rate or sojourn) and the duration, the field furthest beyond a typical
    value: the one to name for what their product costs."""
    group = scenario.fleet[g]
    load = group.workload
    ratios = {f"fleet[{g}].count": group.count / TYPICAL["count"], "duration": scenario.duration / TYPICAL["duration"]}
    if factor == "rate":
        ratios[f"fleet[{g}].workload.rate"] = load.rate / TYPICAL["rate"]
    else:  # short sojourns mean many switches
        shorter = "mean_burst" if load.mean_burst <= load.mean_calm else "mean_calm"
        ratios[f"fleet[{g}].workload.{shorter}"] = TYPICAL["sojourn"] / min(load.mean_burst, load.mean_calm)
    return max(ratios, key=ratios.get)


def chunk_seconds(total_rate: float, duration_s: float) -> float:
    """How long workload.arrival_chunks makes each chunk (its rule, repeated here as arithmetic)."""
    return min(duration_s, max(1.0, TARGET_PER_CHUNK / total_rate)) if total_rate > 0 else duration_s


def _sampled_rows_per_sample(scenario) -> int:
    output, groups = scenario.output, len(scenario.fleet)
    return (2 * groups + 2 if output.links else 0) + (groups if output.battery else 0)


def sample_count(scenario) -> float:
    """links.csv / battery.csv samples over the run (World._sample's interval)."""
    if not (scenario.output.links or scenario.output.battery):
        return 0.0
    every = scenario.output.sample_every or max(1.0, scenario.duration / 200.0)
    return scenario.duration / every


def _switch_rate(group) -> float:
    """Burst/calm switches a second of one bursty device (one per sojourn)."""
    load = group.workload
    return 2.0 / (load.mean_burst + load.mean_calm) if load.kind == "bursty" else 0.0


def estimate(scenario) -> RunEstimate:
    """The requests, devices and memory a run of `scenario` needs: arithmetic only, nothing allocated."""
    need = RunEstimate()
    duration = scenario.duration
    total_rate = sum(g.count * g.workload.rate for g in scenario.fleet)
    chunk_s = chunk_seconds(total_rate, duration)
    row_bytes = STREAMED_REQUEST_BYTES if streams(scenario, total_rate * duration * 1.05) else REQUEST_BYTES
    for g, group in enumerate(scenario.fleet):
        requests = group.count * group.workload.rate * duration
        need.requests += requests
        need.devices += group.count
        culprit = _furthest_from_typical(scenario, g, "rate")
        # its arrivals' share of one chunk, and the chunk's sojourn arrays
        chunk_rows = group.count * group.workload.rate * chunk_s
        need.add(culprit, requests * row_bytes + chunk_rows * CHUNK_ROW_BYTES)
        need.add(f"fleet[{g}].count", group.count * DEVICE_BYTES)
        override = scenario.profiles.get(group.profile)
        cores_field = (f"profiles.{group.profile}.cores" if override is not None and override.cores is not None
                       else f"fleet[{g}].count")
        need.add(cores_field, group.count * scenario.device_profile(group.profile).cores * CORE_BYTES)
        if group.workload.kind == "bursty":
            need.add(_furthest_from_typical(scenario, g, "sojourn"),
                     group.count * _switch_rate(group) * chunk_s * SWITCH_BYTES)
    need.add("edge.cores", scenario.edge.cores * CORE_BYTES)
    if scenario.clouds is None:
        need.add("cloud.cores", scenario.cloud.cores * CORE_BYTES)
    for c, cloud in enumerate(scenario.clouds or []):
        need.add(f"clouds[{c}].cores", cloud.cores * CORE_BYTES)
    need.add("output.sample_every", sample_count(scenario) * _sampled_rows_per_sample(scenario) * SAMPLE_ROW_BYTES)
    return need


def available_memory_bytes() -> float:
    """EDGEFED_MEMORY_LIMIT_BYTES if set, else MemAvailable from /proc/meminfo, else free physical pages."""
    override = os.environ.get(MEMORY_OVERRIDE)
    if override is not None:
        try:
            return float(override)
        except ValueError:
            raise LimitError(f"{MEMORY_OVERRIDE} must be a number of bytes, got {shown(override)}") from None
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError):
        return math.inf


def deployment_rounds(scenario) -> int:
    """Federated rounds that start before the run ends: each takes at least max(every, round_deadline)."""
    fed = scenario.federation
    if not fed.enabled or fed.first_round_at >= scenario.duration:
        return 0
    spacing = max(fed.every, fed.round_deadline)
    return min(fed.rounds, math.ceil((scenario.duration - fed.first_round_at) / spacing))


def _uses_flower(scenario) -> bool:
    fed = scenario.federation
    return fed.pretrain.rounds > 0 or (fed.enabled and fed.rounds > 0)


def problems(scenario) -> list[tuple[str, str]]:
    """(field, what is allowed) for each bound the scenario exceeds; memory first, as it is the hardest."""
    found = []
    need = estimate(scenario)
    available = available_memory_bytes()
    if need.bytes > available:
        found.append((need.culprit, f"the run needs about {need.requests:.2g} requests, {need.devices:,} devices "
                                    f"and {format_bytes(need.bytes)} of memory; this machine has "
                                    f"{format_bytes(available)} available"))
    switches = sum(g.count * _switch_rate(g) * scenario.duration for g in scenario.fleet)
    if switches > MAX_BURST_SWITCHES:
        g, group = max(enumerate(scenario.fleet), key=lambda item: item[1].count * _switch_rate(item[1]))
        found.append((_furthest_from_typical(scenario, g, "sojourn"),
                      f"the bursty workloads would switch between burst and calm about {switches:.2g} times in the "
                      f"run (one per mean_burst or mean_calm); at most {MAX_BURST_SWITCHES:.0e}"))
    samples = sample_count(scenario)
    if samples > MAX_SAMPLES:
        found.append(("output.sample_every", f"takes {samples:.2g} samples over the run; at most {MAX_SAMPLES:,}: "
                                             f"use >= {scenario.duration / MAX_SAMPLES:.3g}s"))
    rounds = deployment_rounds(scenario)
    if rounds > MAX_ROUNDS:
        found.append(("federation.rounds", f"{rounds:,} rounds would start within the run (one per "
                                           f"max(every, round_deadline)); at most {MAX_ROUNDS:,}: lower "
                                           "federation.rounds or raise federation.every"))
    supernodes = scenario.flower_supernodes
    if _uses_flower(scenario) and supernodes > MAX_SUPERNODES:
        found.append(("federation.supernodes", f"{supernodes:,} Flower supernodes (default: one per device); at "
                                               f"most {MAX_SUPERNODES:,}, as Flower's in-memory engine costs "
                                               "O(n^2) per message round: set federation.supernodes"))
    return found
