"""Stream a running world's request rows to a Parquet file in row groups, as soon as a prefix of them is final.

A row is final when its request was answered or dropped (latency written, or `dropped` set) and the radio tail
its transfers left is billed. Tails are billed lazily (at the device's next transfer, or at the end of the run),
but a tail that has already run in full will be billed exactly its full joules: those are added to the streamed
copy here, so only tails still running (seconds) hold a row back. Streamed rows' pages go back to the system
(Recorder.release), so the resident table is the window of unfinished rows, not the whole run.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from sim.limits import streams
from sim.recorder import COLUMNS, SERVED


def open_spill(world, expected_rows: int) -> "RequestSpill | None":
    """The spill a world streams its rows to (sim.limits.streams), in a fresh private temporary directory: the
    run directory itself is only written, whole, at the end (sim.app.runner.write_run)."""
    if not streams(world.scenario, expected_rows):
        return None
    return RequestSpill(world, Path(tempfile.mkdtemp(prefix="edgefed-spill-")) / "recorded.parquet")


class RequestSpill:
    """The recorded columns of a world's final rows, appended to `path` one row group per flush."""

    def __init__(self, world, path: Path, min_rows: int = 1 << 16):
        self.world, self.path, self.min_rows = world, Path(path), min_rows
        self.streamed = 0  # rows below this are in the file
        self.groups = 0
        self._writer = None

    def final_rows(self, now: float) -> int:
        """The end of the prefix of rows, from the first not yet streamed, that no event will change again."""
        rec = self.world.recorder
        lo, size = self.streamed, rec.size
        if size <= lo:
            return lo
        waiting = np.isnan(rec.latency_s[lo:size]) & (rec.dropped[lo:size] == SERVED)
        hi = lo + int(np.argmax(waiting)) if waiting.any() else size
        rows, _, ran_in_full = self.world.energy.open_tails(now)
        running = rows[~ran_in_full]
        running = running[running >= lo]
        return min(hi, int(running.min())) if len(running) else hi

    def flush(self, now: float, last: bool = False) -> None:
        """Stream the final prefix (at least min_rows of it unless `last`) and give its memory back."""
        rec = self.world.recorder
        lo, hi = self.streamed, self.final_rows(now)
        if hi - lo < (1 if last else self.min_rows):
            return
        group = rec.rows(lo, hi)
        rows, joules, ran_in_full = self.world.energy.open_tails(now)
        billed_later = ran_in_full & (rows >= lo) & (rows < hi)
        at = rows[billed_later] - lo
        # what FleetEnergy._charge will store: the float32 row plus the tail's joules in float64, rounded once
        group["energy_radio_j"][at] = (group["energy_radio_j"][at].astype(np.float64)
                                       + joules[billed_later]).astype(np.float32)
        self._write(group)
        self.streamed = hi
        rec.release(hi)

    def _write(self, group: dict[str, np.ndarray]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table(group)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema, compression="zstd")
        self._writer.write_table(table, row_group_size=len(group["device"]))
        self.groups += 1

    def close(self) -> None:
        """After the run (energy closed, unfinished rows marked): stream every row left."""
        self.flush(self.world.env.now, last=True)
        if self._writer is None:  # a run without requests: an empty file with the schema
            self._write({name: np.zeros(0, dtype) for name, dtype in COLUMNS.items()})
        self._writer.close()

    def discard(self) -> None:
        """Remove the spilled file and its temporary directory (once the run directory holds the rows)."""
        shutil.rmtree(self.path.parent, ignore_errors=True)


def row_groups(path: Path) -> Iterator[dict[str, np.ndarray]]:
    """The streamed rows back, one row group at a time, as numpy columns."""
    import pyarrow.parquet as pq

    source = pq.ParquetFile(path)
    for i in range(source.num_row_groups):
        group = source.read_row_group(i)
        yield {name: group.column(name).to_numpy() for name in group.column_names}
