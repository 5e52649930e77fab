"""A device's private data stream: one household's hourly kWh, gap-cleaned, z-scored with its own history.

Households. ``eligible_households()`` lists the households with fewer than 1% missing hours in
calendar 2013 (40 of the 50 in ``datasets/sgsc_households_hourly.csv.gz``, sorted by column name).
Partition ``p`` of a fleet owns household ``eligible_households()[p % n]``. Fleets larger than
``n`` reuse households, never by inventing data: copy ``k = p // n`` (``k = 0`` is the household
itself) reads the same meter shifted back in time by ``k mod W`` weeks (whole weeks, so hour of day
and day of week still line up with the simulated clock) and scaled by ``1 + 0.05 * (((k + 2) % 5) - 2)``
(1.00, 1.05, 1.10, 0.90, 0.95, 1.00, ...). ``W`` is the number of whole-week shifts whose history
still lies after the household's first metered hour (``copies_with_history``: 17 to 52 for a start
in June 2013 with 120 days of history, 1,377 over the 40 households), so every device of any fleet
has a real stream. A fleet holds at most the sum of the households' ``W`` distinct streams: copies
``W`` apart share one (z-scored with their own statistics, the scale only changes the kWh-level
``mean``/``std``). Hours the shifted window still misses stay NaN (masked), never made up. (Before,
copies shifted past a household's first metered hour had no history: in a 100,000-device fleet
almost every device.)

Gaps. Runs of at most 2 missing hours are linearly interpolated (meter hiccups, DST changes);
longer runs stay NaN and every window touching them is invalid. The z-score statistics come from
the raw (uninterpolated) hours strictly before the simulation start ``t0``, so the future never
leaks into them.

Evaluation windows. A run's held-out (test) hours are the ones right after it (``sim.forecasts.score_versions``:
simulated hours [duration, duration + 48)). Settings are chosen on a validation window, the same number of hours
right before the test window: a validation run is the same scenario started ``held_out_hours`` earlier
(``validation_start``), so its own held-out hours end where the test window begins and its streams stop there
(horizon = duration + held-out), never holding a test hour. ``evaluation_windows`` gives both in calendar hours.
"""
from __future__ import annotations

import dataclasses
import functools
import pathlib

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

DATASET_NAME = "sgsc_households_hourly.csv.gz"
DATA_ENV = "EDGEFED_DATA"  # a path to the data file, for a device where edgefed's package data is not at hand


class DataMissing(FileNotFoundError):
    """The household data cannot be found; str() says where it was looked for and how to provide it."""


def dataset_path() -> pathlib.Path:
    """The household data file: $EDGEFED_DATA, else next to this module, else in the installed edgefed.

    The Flower app package that `flwr run` sends to SuperNodes carries only .py/.toml/.md/.yaml/.json files, so
    on a real SuperNode this module's own folder has no data: there it comes from the edgefed installed on the
    device (pip install edgefed), or from EDGEFED_DATA.
    """
    import os

    tried = []
    if os.environ.get(DATA_ENV):
        candidate = pathlib.Path(os.environ[DATA_ENV])
        if candidate.is_file():
            return candidate
        raise DataMissing(f"{DATA_ENV}={candidate}: no such file (it must name {DATASET_NAME})")
    here = pathlib.Path(__file__).resolve().parent / "datasets" / DATASET_NAME
    if here.is_file():
        return here
    tried.append(str(here))
    try:
        from importlib import metadata

        installed = metadata.distribution("edgefed").locate_file(f"clients/datasets/{DATASET_NAME}")
        if pathlib.Path(installed).is_file():
            return pathlib.Path(installed)
        tried.append(str(installed))
        editable = _editable_source()
        if editable is not None and (editable / "clients" / "datasets" / DATASET_NAME).is_file():
            return editable / "clients" / "datasets" / DATASET_NAME
    except metadata.PackageNotFoundError:
        tried.append("an installed edgefed (none)")
    raise DataMissing(f"household data {DATASET_NAME} not found (looked in {'; '.join(tried)}): install edgefed on "
                      f"this device (pip install edgefed) or set {DATA_ENV} to the file")


def _editable_source() -> pathlib.Path | None:
    """The source checkout of an editable edgefed install (its direct_url.json), or None."""
    import json
    from importlib import metadata

    text = metadata.distribution("edgefed").read_text("direct_url.json")
    if not text:
        return None
    url = json.loads(text).get("url", "")
    return pathlib.Path(url.removeprefix("file://")) if url.startswith("file://") else None


DATASET_PATH: pathlib.Path = pathlib.Path(__file__).resolve().parent / "datasets" / DATASET_NAME  # the bundled copy

MAX_INTERPOLATED_GAP_HOURS = 2
_HOURS_PER_WEEK = 24 * 7


def _read(columns: list[str] | None) -> pa.Table:
    convert = pacsv.ConvertOptions(column_types={"timestamp": pa.timestamp("s")},
                                   include_columns=None if columns is None else ["timestamp", *columns])
    return pacsv.read_csv(dataset_path(), convert_options=convert)


def _on_hour_grid(table: pa.Table, column: str) -> tuple[np.datetime64, np.ndarray]:
    """(first hour, float64 values on a regular hourly grid, NaN where missing)."""
    times = table.column("timestamp").to_numpy().astype("datetime64[h]")
    raw = table.column(column).to_numpy(zero_copy_only=False).astype(np.float64)
    first = times.min()
    pos = (times - first).astype(np.int64)
    values = np.full(int(pos.max()) + 1, np.nan)
    values[pos] = raw
    return first, values


@functools.lru_cache(maxsize=None)
def _household_raw(column: str) -> tuple[np.datetime64, np.ndarray]:
    """One household's raw hourly kWh, read alone from the file (cached per column)."""
    first, values = _on_hour_grid(_read([column]), column)
    values.setflags(write=False)
    return first, values


@functools.lru_cache(maxsize=None)
def eligible_households(max_missing: float = 0.01, start: str = "2013-01-01", end: str = "2014-01-01") -> list[str]:
    """Households with fewer than ``max_missing`` missing hours in [start, end), sorted by column name."""
    table = _read(None)
    lo, hi = np.datetime64(start, "h"), np.datetime64(end, "h")
    hours = int((hi - lo).astype(np.int64))
    chosen = []
    for column in table.column_names[1:]:
        first, values = _on_hour_grid(table, column)
        window = _slice(values, int((lo - first).astype(np.int64)), hours)
        if np.isnan(window).mean() < max_missing:
            chosen.append(column)
    return sorted(chosen)


def household_for(partition_id: int) -> tuple[str, float, int]:
    """(column, scale, copy k) of a partition; see the module docstring for copies beyond the first n."""
    if partition_id < 0:
        raise ValueError(f"partition_id must be >= 0, got {partition_id}")
    households = eligible_households()
    n = len(households)
    k = partition_id // n
    return households[partition_id % n], 1.0 + 0.05 * (((k + 2) % 5) - 2), k


def copies_with_history(first: np.datetime64, raw_kwh: np.ndarray, t0: np.datetime64, history_hours: int) -> int:
    """W: how many whole-week shifts back (0, 1, ... W - 1) keep a stream's history after its household's first
    metered hour (``raw_kwh`` from ``first``)."""
    metered = np.flatnonzero(np.isfinite(raw_kwh))
    if not len(metered):
        return 1
    spare = int((np.datetime64(t0, "h") - history_hours - np.datetime64(first, "h")).astype(np.int64)) - int(metered[0])
    return max(1, spare // _HOURS_PER_WEEK + 1)


def validation_start(start: str, held_out_hours: int) -> str:
    """``data.start`` (a date) of the validation run: ``held_out_hours`` (whole days) before the test run's."""
    if held_out_hours <= 0 or held_out_hours % 24:
        raise ValueError(f"held_out_hours must be a positive multiple of 24 (data.start is a date), got {held_out_hours}")
    return str(np.datetime64(start, "D") - np.timedelta64(held_out_hours // 24, "D"))


def evaluation_windows(start: str, run_hours: int, held_out_hours: int) -> dict[str, tuple[np.datetime64, np.datetime64]]:
    """Calendar hours [begin, end) of the validation and test windows of a run of ``run_hours`` from ``start``."""
    test_begin = np.datetime64(start, "h") + np.timedelta64(run_hours, "h")
    width = np.timedelta64(held_out_hours, "h")
    validation_begin = np.datetime64(validation_start(start, held_out_hours), "h") + np.timedelta64(run_hours, "h")
    return {"validation": (validation_begin, validation_begin + width), "test": (test_begin, test_begin + width)}


def _slice(values: np.ndarray, begin: int, length: int) -> np.ndarray:
    """values[begin:begin+length], NaN-padded where the range leaves the array."""
    out = np.full(length, np.nan)
    lo, hi = max(begin, 0), min(begin + length, len(values))
    if hi > lo:
        out[lo - begin:hi - begin] = values[lo:hi]
    return out


def interpolate_short_gaps(values: np.ndarray, max_gap: int = MAX_INTERPOLATED_GAP_HOURS) -> np.ndarray:
    """Linear interpolation of NaN runs of length <= max_gap with known values on both sides."""
    out = np.array(values, dtype=np.float64)
    missing = np.isnan(out)
    if not missing.any():
        return out
    edges = np.diff(np.concatenate(([0], missing.view(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # run = [start, end)
    keep = (ends - starts <= max_gap) & (starts > 0) & (ends < len(out))
    for s, e in zip(starts[keep], ends[keep]):
        left, right = out[s - 1], out[e]
        out[s:e] = left + (right - left) * np.arange(1, e - s + 1) / (e - s + 1)
    return out


def _calendar(t_first: np.datetime64, length: int) -> tuple[np.ndarray, np.ndarray]:
    hours = t_first.astype("datetime64[h]").astype(np.int64) + np.arange(length)
    hour_of_day = (hours % 24).astype(np.int8)
    day_of_week = ((hours // 24 + 3) % 7).astype(np.int8)  # 1970-01-01 was a Thursday; 0 = Monday
    return hour_of_day, day_of_week


_HOD_SIN = np.sin(2 * np.pi * np.arange(24) / 24).astype(np.float32)
_HOD_COS = np.cos(2 * np.pi * np.arange(24) / 24).astype(np.float32)
_DOW_SIN = np.sin(2 * np.pi * np.arange(7) / 7).astype(np.float32)
_DOW_COS = np.cos(2 * np.pi * np.arange(7) / 7).astype(np.float32)


@dataclasses.dataclass(frozen=True, eq=False)
class DeviceSeries:
    """One device's z-scored hourly stream around the simulation start t0 (sim hour 0)."""

    partition_id: int
    column: str
    t0: np.datetime64
    values: np.ndarray
    history_hours: int
    mean: float
    std: float
    hour_of_day: np.ndarray
    day_of_week: np.ndarray

    @classmethod
    def load(cls, partition_id: int, start: str = "2013-06-01", history_hours: int = 24 * 120,
             horizon_hours: int = 24 * 60) -> "DeviceSeries":
        """Read only this partition's household and build its stream over [t0 - history, t0 + horizon)."""
        shared = _copy_stream(*stream_key(partition_id, start, history_hours), start, history_hours, horizon_hours)
        return dataclasses.replace(shared, partition_id=partition_id)

    @classmethod
    def from_hourly(cls, partition_id: int, column: str, first: np.datetime64, raw_kwh: np.ndarray,
                    t0: np.datetime64, history_hours: int, horizon_hours: int, shift_hours: int = 0) -> "DeviceSeries":
        """Build from a regular hourly kWh array starting at ``first`` (device hour t reads data hour t - shift)."""
        if history_hours < 1 or horizon_hours < 0:
            raise ValueError("history_hours must be >= 1 and horizon_hours >= 0")
        t0 = np.datetime64(t0, "h")
        begin = int((t0 - history_hours - shift_hours - np.datetime64(first, "h")).astype(np.int64))
        window = _slice(np.asarray(raw_kwh, dtype=np.float64), begin, history_hours + horizon_hours)
        history = window[:history_hours]
        if np.isnan(history).all():
            mean, std = 0.0, 1.0  # no past at all: leave kWh unscaled rather than invent statistics
        else:
            mean, std = float(np.nanmean(history)), float(np.nanstd(history))
            std = std if std > 1e-9 else 1.0
        values = ((interpolate_short_gaps(window) - mean) / std).astype(np.float32)
        values.setflags(write=False)
        hour_of_day, day_of_week = _calendar(t0 - history_hours, len(values))
        return cls(partition_id, column, t0, values, history_hours, mean, std, hour_of_day, day_of_week)

    def index_of_hours(self, sim_hours: np.ndarray) -> np.ndarray:
        """Index into ``values`` of each simulated hour (sim hour 0 = t0)."""
        return np.asarray(sim_hours, dtype=np.int64) + self.history_hours

    def windows(self, sim_hours: np.ndarray, window: int, calendar: bool = False
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(X [n, window, F], y [n], valid [n]): inputs are the ``window`` hours strictly before each target hour."""
        target = self.index_of_hours(np.atleast_1d(sim_hours))
        n_values = len(self.values)
        inputs = target[:, None] + np.arange(-window, 0)
        in_range = (target - window >= 0) & (target < n_values)
        inputs_c = np.clip(inputs, 0, n_values - 1)
        target_c = np.clip(target, 0, n_values - 1)
        x = self.values[inputs_c]
        y = self.values[target_c]
        valid = in_range & ~np.isnan(x).any(axis=1) & ~np.isnan(y)
        x = np.where(valid[:, None], x, 0.0).astype(np.float32)
        y = np.where(valid, y, 0.0).astype(np.float32)
        if not calendar:
            return x[:, :, None], y, valid
        hod, dow = self.hour_of_day[inputs_c], self.day_of_week[inputs_c]
        features = np.stack([x, _HOD_SIN[hod], _HOD_COS[hod], _DOW_SIN[dow], _DOW_COS[dow]], axis=-1)
        features[~valid] = 0.0
        return features.astype(np.float32, copy=False), y, valid

    def training_windows(self, until_sim_hour: int, span_hours: int, window: int, calendar: bool = False
                         ) -> tuple[np.ndarray, np.ndarray]:
        """Valid windows whose target hour lies in [until - span, until), oldest first (nothing at or after until)."""
        hours = np.arange(until_sim_hour - span_hours, until_sim_hour)
        x, y, valid = self.windows(hours, window, calendar)
        return x[valid], y[valid]


def stream_key(partition_id: int, start: str, history_hours: int) -> tuple[str, float, int]:
    """(column, scale, week shift) of a partition's stream: partitions with the same key read the same values."""
    column, scale, copy = household_for(partition_id)
    return column, scale, copy % _copies(column, start, history_hours)


@functools.lru_cache(maxsize=1024)
def _copies(column: str, start: str, history_hours: int) -> int:
    first, raw = _household_raw(column)
    return copies_with_history(first, raw, np.datetime64(start, "h"), history_hours)


# Devices that read the same household with the same shift and scale get the same stream (its arrays are
# read-only): a 100,000-device fleet builds about 7,000 of them, not 100,000
@functools.lru_cache(maxsize=1 << 13)
def _copy_stream(column: str, scale: float, shift_weeks: int, start: str, history_hours: int,
                 horizon_hours: int) -> DeviceSeries:
    first, raw = _household_raw(column)
    return DeviceSeries.from_hourly(-1, column, first, raw * scale, np.datetime64(start, "h"), history_hours,
                                    horizon_hours, _HOURS_PER_WEEK * shift_weeks)
