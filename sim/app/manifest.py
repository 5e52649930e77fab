"""manifest.json: what produced a run directory (versions, platform, seed, scenario hash, wall time, command)."""
from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

# the packages whose versions can change a run's numbers or its files
PACKAGES = ("numpy", "torch", "flwr", "ray", "simpy", "pydantic", "pyarrow", "pyyaml")
_SOURCE = Path(__file__).resolve().parents[2]  # the checkout (or site-packages) holding sim/


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def git_commit(where: Path = _SOURCE) -> str | None:
    """HEAD of the checkout edgefed runs from, '+dirty' when its tracked files differ; None outside git."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True, timeout=5,
                              check=True).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def scenario_hash(resolved_yaml: str) -> str:
    return "sha256:" + hashlib.sha256(resolved_yaml.encode()).hexdigest()


def manifest(resolved_yaml: str, seed: int, wall_s: float | None, argv: list[str] | None = None) -> dict:
    """The manifest of one run; `resolved_yaml` is the scenario.yaml text written next to it."""
    return {
        "edgefed_version": package_version("edgefed"),
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "packages": {name: package_version(name) for name in PACKAGES},
        "platform": platform.platform(),
        "machine": platform.machine(),
        "seed": seed,
        "scenario_sha256": scenario_hash(resolved_yaml),
        "wall_s": None if wall_s is None else round(wall_s, 3),
        "command": list(sys.argv if argv is None else argv),
    }
