"""Write a run directory atomically: everything goes into a temporary sibling that is renamed into place.

Next to a run directory FINAL, in its parent:
  .FINAL.lock     held (flock) while a writer checks, stages, replaces or cleans up FINAL; removed when done
  .FINAL.tmp-*    the staging directory of a writer; a complete one is renamed to FINAL
  .FINAL.old-*    FINAL's previous run, moved aside during the two renames that replace it
Every step that creates or removes these happens under the lock, so whatever a lock holder finds was left
by a writer that was killed: it is removed, or (the previous run, when FINAL is missing) moved back.
"""
from __future__ import annotations

import csv
import errno
import fcntl
import glob
import json
import logging
import os
import re
import shutil
import tempfile
import unicodedata
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

if TYPE_CHECKING:
    import numpy as np

MARKER = ".edgefed-run"  # written into every run directory: only such a directory is ever replaced
_LEGACY_FILES = ("scenario.yaml", "summary.json")  # run directories written before the marker existed
_NAME_LIMIT = 80
_MKDTEMP_SUFFIX = re.compile(r"[a-z0-9_]{8}")  # what tempfile.mkdtemp appends to a prefix

log = logging.getLogger(__name__)


class RunDirError(ValueError):
    """A place a run directory must not be written to (it would replace other files); str() is 'PATH: reason'."""


def run_dir_name(name: str) -> str:
    """A scenario name as one safe path component: lower-case [a-z0-9._-], never hidden, '.' or '..'."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()  # é -> e
    slug = re.sub(r"[^a-z0-9._-]+", "-", ascii_name.lower()).lstrip(".-")
    return slug[:_NAME_LIMIT].rstrip(".-") or "run"


def is_run_directory(path: Path) -> bool:
    path = Path(path)
    return (path / MARKER).is_file() or all((path / name).is_file() for name in _LEGACY_FILES)


def prepare_run_directory(final: Path) -> list[str]:
    """Check, before any work, that FINAL can be written; clean up after an interrupted writer.

    Raises RunDirError for a place that is not an edgefed run directory, OSError when it cannot be written
    (a staging directory is created and removed to find out). Returns notes on what was cleaned up.
    """
    final = _named(final)
    with _locked(final):
        notes = _take_over(final)
        os.rmdir(tempfile.mkdtemp(prefix=_staging_prefix(final), dir=final.parent))
    return notes


@contextmanager
def atomic_directory(final: Path, on_note: Callable[[str], None] | None = None) -> Iterator[Path]:
    """Yield a temporary directory; on success it replaces `final`, on any failure it vanishes.

    Refuses (RunDirError) to replace anything but an edgefed run directory or an empty directory.
    """
    final = _named(final)
    with _locked(final):
        for note in _take_over(final):
            (on_note or log.warning)(note)
        staging = Path(tempfile.mkdtemp(prefix=_staging_prefix(final), dir=final.parent))
        try:
            yield staging
            (staging / MARKER).write_text("edgefed run directory: the next run written here replaces it whole\n")
            _replace(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


@contextmanager
def atomic_file(path: Path, mode: str = "w") -> Iterator:
    """A file handle whose contents appear at `path` only whole: written beside it under a hidden temporary name,
    renamed over it on success, removed on any error (Ctrl-C included). The one atomic single-file write of the app."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(mode, newline="" if "b" not in mode else None, dir=path.parent,
                                         prefix=f".{path.name}.tmp-", delete=False)
    try:
        with handle:
            yield handle
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def _named(final: Path | str) -> Path:
    """`.`, `..` and `/` have no name of their own to put the lock and staging directory next to."""
    final = Path(final)
    return final if final.name not in ("", "..") else Path(os.path.abspath(final))


def _staging_prefix(final: Path) -> str:
    return f".{final.name}.tmp-"


def _retired_prefix(final: Path) -> str:
    return f".{final.name}.old-"


def _replace(staging: Path, final: Path) -> None:
    if not final.exists():
        os.replace(staging, final)
        return
    retired = Path(tempfile.mkdtemp(prefix=_retired_prefix(final), dir=final.parent))
    os.replace(final, retired / "run")  # killed between these two renames: _take_over moves it back
    os.replace(staging, final)
    os.replace(retired / "run", retired / "replaced")  # a half-deleted run must never be moved back
    shutil.rmtree(retired, ignore_errors=True)


@contextmanager
def _locked(final: Path) -> Iterator[None]:
    """Hold `.NAME.lock` next to FINAL (creating FINAL's parent), waiting for another writer to finish."""
    _make_parent(final)
    lock = final.parent / f".{final.name}.lock"
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if _same_file(lock, fd):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the holder we waited for removed this lock file on release: lock the new one
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)  # still held: whoever opened this file retries on a fresh one
        os.close(fd)


def _same_file(path: Path, fd: int) -> bool:
    try:
        return os.path.samestat(os.stat(path), os.fstat(fd))
    except FileNotFoundError:
        return False


def _make_parent(final: Path) -> None:
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a file where a directory of the path should be
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(final.parent)) from None


def _take_over(final: Path) -> list[str]:
    """With the lock held: refuse what must not be replaced, then undo what an interrupted writer left."""
    if final.exists() and not final.is_dir():
        raise RunDirError(f"{final}: a file is there, not a run directory")
    if final.is_dir() and not is_run_directory(final) and any(final.iterdir()):
        raise RunDirError(f"{final}: not an edgefed run directory, and not empty: refusing to replace its files "
                          "(choose another directory, or empty it)")
    notes = []
    if not final.exists() and _recover(final):
        notes.append(f"recovered {final} from an interrupted replacement")
    if staged := _remove(_leftovers(final, _staging_prefix(final))):
        notes.append(f"removed {_count(staged, 'unfinished run directory', 'unfinished run directories')} "
                     f"left by an interrupted run: {', '.join(map(str, staged))}")
    if retired := _remove(_leftovers(final, _retired_prefix(final))):
        notes.append(f"removed {_count(retired, 'previous run', 'previous runs')} an interrupted replacement "
                     f"left behind: {', '.join(map(str, retired))}")
    return notes


def _count(items: list, one: str, many: str) -> str:
    return f"{len(items)} {one if len(items) == 1 else many}"


def _leftovers(final: Path, prefix: str) -> list[Path]:
    """FINAL's own: `.x.tmp-*` alone would also match the staging directory of a run named `x.tmp-a`."""
    pattern = os.path.join(glob.escape(str(final.parent)), glob.escape(prefix) + "*")
    return sorted(Path(p) for p in glob.glob(pattern) if _MKDTEMP_SUFFIX.fullmatch(Path(p).name[len(prefix):]))


def _recover(final: Path) -> bool:
    """FINAL is missing but its previous run is still moved aside under `run`: move the newest back."""
    runs = [old / "run" for old in _leftovers(final, _retired_prefix(final)) if is_run_directory(old / "run")]
    if not runs:
        return False
    newest = max(runs, key=lambda run: run.parent.stat().st_mtime)
    os.replace(newest, final)
    os.rmdir(newest.parent)  # emptied by the move
    return True


def _remove(leftovers: list[Path]) -> list[Path]:
    """Staging directories and retired runs found under the lock belong to no live writer."""
    for path in leftovers:
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink(missing_ok=True)
    return leftovers


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_csv(path: Path, rows: list[dict], header: list[str]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


def write_parquet(path: Path, columns: dict[str, np.ndarray], labels: dict[str, tuple[str, ...]] | None = None) -> None:
    """Columns named in `labels` hold codes 0..k-1 and are written as dictionary (categorical) columns with those
    labels, so pyarrow and pandas readers see 'edge', not 1."""
    import pyarrow.parquet as pq  # here, not at import: the CLI imports this module for every command

    pq.write_table(labelled_table(columns, labels), path, compression="zstd")


def labelled_table(columns: dict[str, np.ndarray], labels: dict[str, tuple[str, ...]] | None = None):
    """An Arrow table of `columns`, those named in `labels` as categorical columns (write_parquet)."""
    import pyarrow as pa

    labels = labels or {}
    return pa.table({name: _categorical(values, labels[name]) if name in labels else values
                     for name, values in columns.items()})


def _categorical(codes: np.ndarray, labels: tuple[str, ...]):
    """A dictionary column; a negative code (a dropped request has no target) is a missing value."""
    import pyarrow as pa

    return pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), pa.array(labels, pa.string()))
