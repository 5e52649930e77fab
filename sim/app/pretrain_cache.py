"""Pretrained models on disk, keyed by everything that determines them, so a second run skips Flower and Ray.

The key is a sha256 of: the scenario as pretrained, with the fields that cannot change pretraining removed (policy,
name, description, output; the duration stays: a device's data horizon follows from it), the bytes of the training path's code and data (clients/, server/, the data set),
and the versions of the packages that do the numerics. A hit loads the arrays exactly as they were stored.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sim.app.output import atomic_file

from sim.app.manifest import package_version

if TYPE_CHECKING:
    from sim import scenario as scenarios

_ROOT = Path(__file__).resolve().parents[2]
# the code and data a pretrained model comes from: the ClientApp's training, the server's rounds, the data set
_TRAINING_PATH = ("clients", "server")
_NUMERIC_PACKAGES = ("torch", "flwr", "numpy")
_IRRELEVANT = {"name", "description", "policy", "output"}
FORMAT = 1  # bump when the stored layout changes


def cache_dir() -> Path:
    """EDGEFED_CACHE_DIR, else ~/.cache/edgefed (XDG_CACHE_HOME respected)."""
    if os.environ.get("EDGEFED_CACHE_DIR"):
        return Path(os.environ["EDGEFED_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edgefed"


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """sha256 over the training path's source and data files (names and bytes), read once per process."""
    digest = hashlib.sha256()
    for top in _TRAINING_PATH:
        for path in sorted((_ROOT / top).rglob("*")):
            if path.is_file() and (path.suffix in (".py", ".gz", ".csv") and "__pycache__" not in path.parts):
                digest.update(str(path.relative_to(_ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def pretrain_key(scenario: "scenarios.Scenario") -> str:
    relevant = {k: v for k, v in scenario.model_dump(mode="json").items() if k not in _IRRELEVANT}
    relevant["federation"].pop("backend", None)  # where ClientApps execute does not change what they train
    what = {"format": FORMAT, "scenario": relevant, "code": code_digest(),
            "packages": {name: package_version(name) for name in _NUMERIC_PACKAGES}}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def _path(key: str) -> Path:
    return cache_dir() / "pretrained" / f"{key}.npz"


def load(key: str) -> tuple[list[np.ndarray], list[np.ndarray] | None, list[dict]] | None:
    """(edge arrays, cloud arrays or None, pretraining round rows) stored under `key`, or None."""
    path = _path(key)
    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            edge = [stored[f"edge_{i}"] for i in range(meta["edge"])]
            cloud = None if meta["cloud"] is None else [stored[f"cloud_{i}"] for i in range(meta["cloud"])]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):  # absent or unreadable (a partial copy): train again
        return None
    return edge, cloud, meta["rounds"]


def store(key: str, edge: list[np.ndarray], cloud: list[np.ndarray] | None, rounds: list[dict]) -> Path | None:
    """Write atomically (a temporary file renamed into place); a cache that cannot be written is skipped."""
    path = _path(key)
    meta = {"edge": len(edge), "cloud": None if cloud is None else len(cloud), "rounds": rounds}
    arrays = {f"edge_{i}": a for i, a in enumerate(edge)} | {f"cloud_{i}": a for i, a in enumerate(cloud or [])}
    try:
        with atomic_file(path, "wb") as handle:
            np.savez(handle, meta=np.array(json.dumps(meta, allow_nan=True)), **arrays)
    except OSError:  # a cache that cannot be written: the run goes on with the models in memory
        return None
    return path
