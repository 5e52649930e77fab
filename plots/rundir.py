"""Read run-directory files into numpy columns (plots never import the simulator)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

Columns = dict[str, np.ndarray]
TARGETS = ("local", "edge", "cloud")
# labels of requests.parquet's categorical columns, for run directories written before they were dictionary-encoded
_LEGACY_LABELS = {"target": TARGETS, "model": ("edge", "cloud", "personal"),
                  "dropped": ("served", "battery-empty", "unfinished", "no-coverage", "timeout")}
_NULLS = ["", "nan", "NaN", "None", "null"]


def summary(run_dir: Path) -> dict:
    path = Path(run_dir) / "summary.json"
    return json.loads(path.read_text()) if path.exists() else {}


def scenario_name(run_dir: Path) -> str:
    return summary(run_dir).get("scenario") or Path(run_dir).name


def policy_params(run_dir: Path) -> dict:
    """policy.params of the run's resolved scenario.yaml ({} when absent)."""
    path = Path(run_dir) / "scenario.yaml"
    if not path.exists():
        return {}
    import yaml

    data = yaml.safe_load(path.read_text()) or {}
    policy = data.get("policy") if isinstance(data, dict) else None
    params = policy.get("params") if isinstance(policy, dict) else None
    return params if isinstance(params, dict) else {}


def _numpy(column: pa.ChunkedArray) -> np.ndarray:
    if pa.types.is_null(column.type) or pa.types.is_integer(column.type) and column.null_count:
        column = pc.cast(column, pa.float64())
    if pa.types.is_floating(column.type):
        return column.fill_null(np.nan).to_numpy()
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return np.asarray(column.fill_null("").to_pylist(), dtype=object)
    return column.to_numpy()


def read_csv(run_dir: Path, name: str, floats: tuple[str, ...] = (), strings: tuple[str, ...] = ()) -> Columns | None:
    """RUN_DIR/name as columns; `floats` are read as float64 with NaN for empty cells, `strings` as text ("" for
    empty cells, whatever the values look like). None if the file is absent."""
    path = Path(run_dir) / name
    if not path.exists():
        return None
    types = {c: pa.float64() for c in floats} | {c: pa.string() for c in strings}
    table = pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(null_values=_NULLS, column_types=types,
                                                                    strings_can_be_null=False))
    return {c: _numpy(table[c]) for c in table.column_names}


def _labels(name: str, column: pa.ChunkedArray) -> np.ndarray:
    """A categorical column as its labels (object array); old files hold the bare codes."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
        return np.asarray(column.to_pylist(), dtype=object)
    codes = column.to_numpy().astype(np.int64)
    return np.where(codes >= 0, np.asarray(_LEGACY_LABELS[name], dtype=object)[np.maximum(codes, 0)], None)


def read_requests(run_dir: Path, columns: list[str]) -> Columns | None:
    """The served requests' columns from requests.parquet (None if absent); target, model and dropped as labels."""
    path = Path(run_dir) / "requests.parquet"
    if not path.exists():
        return None
    table = pq.read_table(path, columns=sorted(set(columns) | {"dropped"}))
    read = {c: _labels(c, table[c]) if c in _LEGACY_LABELS else table[c].to_numpy() for c in table.column_names}
    served = read["dropped"] == "served"
    return {c: read[c][served] for c in columns}


def device_profiles(devices: Columns) -> np.ndarray:
    """Profile name per device index (object array)."""
    index = devices["device"].astype(np.int64)
    out = np.empty(int(index.max()) + 1 if len(index) else 0, dtype=object)
    out[index] = devices["profile"]
    return out


def topology(run_dir: Path) -> dict | None:
    """topology.json (sites, cells, metro, servers' busy seconds), None when the run wrote none."""
    path = Path(run_dir) / "topology.json"
    return json.loads(path.read_text()) if path.exists() else None


Window = tuple[str, str, float, float]  # (component, kind, start s, end s)


def outage_windows(run_dir: Path) -> list[Window]:
    """Every outage of the run: outages.csv (component, kind: scheduled or random, start_s, end_s) when the run
    wrote it, else the scheduled server outages of its scenario.yaml (`outages: [{server, at, for}]`)."""
    table = read_csv(run_dir, "outages.csv", floats=("start_s", "end_s"))
    if table is not None:
        return [(str(c), str(k), float(a), float(b)) for c, k, a, b in
                zip(table["component"], table["kind"], table["start_s"], table["end_s"])]
    path = Path(run_dir) / "scenario.yaml"
    if not path.exists():
        return []
    import yaml

    data = yaml.safe_load(path.read_text()) or {}
    entries = data.get("outages") if isinstance(data, dict) else None
    # named as outages.csv names them: `server:<site>`, `cloud`
    return [("cloud" if o["server"] == "cloud" else f"server:{o['server']}", "scheduled", _seconds(o["at"]),
             _seconds(o["at"]) + _seconds(o["for"]))
            for o in entries or [] if isinstance(o, dict) and {"server", "at", "for"} <= set(o)]


_SECONDS = {"ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def _seconds(value) -> float:
    """A duration of a resolved scenario.yaml ('600.0s'; a bare number is seconds) in seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    for unit in sorted(_SECONDS, key=len, reverse=True):  # 'ms' and 'min' before 's'
        if text.endswith(unit):
            return float(text[: -len(unit)]) * _SECONDS[unit]
    return float(text)


def lost_arrivals(run_dir: Path) -> dict[str, np.ndarray]:
    """Arrival times (s) of the requests that were not served, by reason (requests.parquet's `dropped` label)."""
    path = Path(run_dir) / "requests.parquet"
    if not path.exists():
        return {}
    table = pq.read_table(path, columns=["arrival_s", "dropped"])
    reason, arrival = _labels("dropped", table["dropped"]), table["arrival_s"].to_numpy()
    return {str(r): arrival[reason == r] for r in dict.fromkeys(reason.tolist()) if r not in ("served", None)}
