"""The per-request table: preallocated numpy columns (struct of arrays) that grow geometrically."""
from __future__ import annotations

import mmap

import numpy as np

# why a request was not served (column `dropped`); unfinished: its reply was still on the way when the run ended;
# no-coverage: offloaded while its device had no cell in range, or its reply came back after the device left coverage
# timeout: offloaded, no reply by its timeout (the server it went to was down: sim.outages)
SERVED, BATTERY_EMPTY, UNFINISHED, NO_COVERAGE, TIMEOUT = 0, 1, 2, 3, 4
DROP_REASONS = ("served", "battery-empty", "unfinished", "no-coverage", "timeout")

# float32 wherever 7 significant digits are plenty (arrival times need float64): 50 bytes a row. Columns that
# follow from these (compute_s, propagation_s, bytes_up, hour, deadline_s) are derived after the run (World.table).
COLUMNS: dict[str, type] = {
    "arrival_s": np.float64,
    "device": np.int32,
    "target": np.int8,
    "model": np.int8,  # clients.model.EDGE_MODEL, CLOUD_MODEL or PERSONAL_MODEL
    "model_version": np.int16,  # global round of the edge model; for a personal copy, the round it was trained in
    "latency_s": np.float32,  # NaN until the request is answered (dropped and unfinished requests keep it)
    "queue_s": np.float32,  # waiting for a CPU (device or server)
    "transfer_s": np.float32,  # time on shared links (and radio promotion)
    "energy_compute_j": np.float32,
    "energy_radio_j": np.float32,  # promotion + transmit + receive + the tails its transfers left (FleetEnergy)
    "dropped": np.int8,
    "forecast_error": np.float32,  # prediction - truth (z-scored); NaN where unavailable
    "baseline_error": np.float32,  # persistence forecast error on the same hour
    # 1 + the edge site a policy named (target FIRST_SITE + k); 0: the device's own site, or not an edge request.
    # Zero-based on purpose: a run that never names a site keeps the column's pages unmapped. World.table()
    # derives the output column `site` from it
    "site_choice": np.int16,
    # 1 + the site that forwarded the request to the one that served it (edge-side forwarding); 0: none
    "forwarded_by": np.int16,
    # 1: offloaded, no reply by its timeout, then run on the device (timeouts.retry_local); its target is LOCAL
    "retried": np.int8,
}
# recorded only when devices move (sim.mobility): the cell a request's device was in when it arrived (-1: none),
# from which World.table() derives `site`, `cell` and `propagation_s`
MOBILITY_COLUMNS: dict[str, type] = {"arrival_cell": np.int16}
# columns whose empty value is not 0
EMPTY = {"latency_s": np.nan}


def _zeros(name: str, dtype: type, size: int) -> np.ndarray:
    """A zeroed column in its own anonymous mapping: untouched pages cost no resident memory, and the pages of
    rows already streamed out can be handed back (release) while the rows after them stay where they are."""
    dtype = np.dtype(dtype)
    flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_NORESERVE", 0)
    return np.frombuffer(mmap.mmap(-1, max(1, size * dtype.itemsize), flags=flags), dtype, count=size)


class Recorder:
    """Columns indexed by request row; the arrivals' own columns are written a chunk at a time ahead of
    the clock (reserve), a row counts once its request arrived (size) and is filled in as it completes."""

    def __init__(self, capacity: int = 1 << 14, columns: dict[str, type] = COLUMNS):
        self.size = 0
        self.capacity = max(16, capacity)
        self._dtypes = columns
        self.columns = {name: _zeros(name, dtype, self.capacity) for name, dtype in columns.items()}
        self.released = 0  # rows below this were streamed out: their pages are given back, never read again
        self._filled = 0  # rows below this hold their EMPTY value (filled as rows are reserved, not all at once)
        self._bind()

    def _bind(self) -> None:
        # attributes for the hot path: one attribute load instead of a dict lookup per write
        for name, column in self.columns.items():
            setattr(self, name, column)

    def reserve(self, rows: int) -> None:
        """Make room for `rows` rows in all (columns grow geometrically), so the hot path never checks."""
        if rows > self.capacity:
            while self.capacity < rows:
                self.capacity *= 2
            keep = self.released
            for name, column in self.columns.items():
                grown = _zeros(name, self._dtypes[name], self.capacity)
                # every old row not streamed out, not only the `size` counted ones: arrivals ahead of the clock
                grown[keep: len(column)] = column[keep:]
                self.columns[name] = grown
            self._bind()
        if rows > self._filled:
            for name, value in EMPTY.items():
                self.columns[name][self._filled: rows] = value
            self._filled = rows

    def release(self, rows: int) -> None:
        """Rows below `rows` were streamed out: give their whole pages back to the system (they read as zeros)."""
        self.released = max(self.released, rows)
        for column in self.columns.values():
            end = self.released * column.itemsize // mmap.PAGESIZE * mmap.PAGESIZE
            if end:
                column.base.obj.madvise(mmap.MADV_DONTNEED, 0, end)  # base: a memoryview of the mmap

    def mark_unfinished(self) -> int:
        """At the end of a run: requests with no latency yet (replies still on the way) become UNFINISHED."""
        lo, size = self.released, self.size
        open_rows = np.isnan(self.latency_s[lo:size]) & (self.dropped[lo:size] == SERVED)
        self.dropped[lo:size][open_rows] = UNFINISHED
        return int(open_rows.sum())

    def table(self) -> dict[str, np.ndarray]:
        """The filled rows, column by column (views, not copies)."""
        if self.released:
            raise RuntimeError("the request table was streamed out: read it from its row groups")
        return {name: column[: self.size] for name, column in self.columns.items()}

    def rows(self, lo: int, hi: int) -> dict[str, np.ndarray]:
        """Copies of rows lo..hi of every column (for streaming them out)."""
        return {name: column[lo:hi].copy() for name, column in self.columns.items()}
