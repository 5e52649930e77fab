"""Sweep files: the YAML of a grid (scenario x policy x parameter values x seeds), validated and expanded into runs.

The file's syntax is described in sim/app/sweep.py; errors are one line each (`file: field: message`, sim.errors).
"""
from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sim import errors as error_lines
from sim import scenario as scenarios

ParamValue = float | int | str | bool


class SweepError(Exception):
    """A sweep that cannot run; str() is one or more lines 'file: field: message'."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PolicyGrid(_Strict):
    name: str
    params: dict[str, ParamValue | list[ParamValue]] = Field(default_factory=dict)

    @field_validator("params")
    @classmethod
    def _non_empty_lists(cls, params: dict) -> dict:
        for key, value in params.items():
            if isinstance(value, list) and not value:
                raise ValueError(f"{key}: a list of values must not be empty")
        return params

    def points(self) -> list[dict[str, ParamValue]]:
        """Every combination of the list-valued parameters (scalars are fixed)."""
        keys = sorted(self.params)
        axes = [v if isinstance(v, list) else [v] for v in (self.params[k] for k in keys)]
        return [dict(zip(keys, combo)) for combo in itertools.product(*axes)]


class SweepFile(_Strict):
    name: str | None = None
    out: str | None = None
    scenarios: list[str] = Field(min_length=1)
    policies: list[PolicyGrid] = Field(default_factory=list)
    seeds: list[int] = [0]
    overrides: dict[str, Any] = Field(default_factory=dict)

    @field_validator("scenarios", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("policies", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        if isinstance(value, (str, dict)):
            value = [value]
        return [{"name": v} if isinstance(v, str) else v for v in value] if isinstance(value, list) else value

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds(cls, seeds: Any) -> list[int]:
        if isinstance(seeds, int) and not isinstance(seeds, bool):
            if not 1 <= seeds <= 10_000:
                raise ValueError(f"a seed count must be between 1 and 10000, got {seeds}")
            return list(range(seeds))
        if (not isinstance(seeds, list) or not seeds or len(set(map(repr, seeds))) != len(seeds)
                or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)):
            raise ValueError(f"must be a count (seeds 0..count-1) or a non-empty list of distinct integers >= 0, "
                             f"got {seeds!r}")
        return seeds


@dataclass(frozen=True)
class Run:
    """One grid point: a resolved scenario and the run directory it writes."""

    scenario: scenarios.Scenario
    params: dict[str, ParamValue]
    path: Path

    @property
    def policy(self) -> str:
        return self.scenario.policy.name

    @property
    def needs_flower(self) -> bool:
        """Federation rounds run inside Flower's own Ray simulation: such runs stay in the driver."""
        fed = self.scenario.federation
        return fed.enabled and fed.rounds > 0

    @property
    def done(self) -> bool:
        return (self.path / "summary.json").is_file()


# --- the sweep file -----------------------------------------------------------------------------------

def _merge(base: dict, overrides: dict) -> dict:
    merged = dict(base)
    for key, value in overrides.items():
        merged[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


def _slug(value: Any) -> str:
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", text)


def run_name(scenario_name: str, policy: str, params: dict[str, ParamValue], seed: int) -> str:
    """Deterministic run directory name: <scenario>-<policy>[-key=value...]-seed<N>."""
    parts = [_slug(scenario_name), _slug(policy)] + [f"{_slug(k)}={_slug(v)}" for k, v in sorted(params.items())]
    return "-".join(parts) + f"-seed{seed}"


def load(path: str | Path, out: str | Path | None = None) -> tuple[Path, list[Run]]:
    """Read a sweep file and expand it into runs (every scenario validated); raise SweepError on any problem."""
    path = Path(path)
    source = str(path)
    try:
        data = scenarios.read_yaml(path)  # bounded as scenario files are (a billion laughs is refused at once)
    except scenarios.ScenarioError as exc:
        raise SweepError(str(exc)) from None
    if not isinstance(data, dict):
        raise SweepError(f"{source}: (top level): must be a mapping of sweep fields, got "
                         f"{'an empty file' if data is None else type(data).__name__}")
    try:
        sweep = SweepFile.model_validate(data)
    except ValidationError as exc:
        raise SweepError(error_lines.describe_all(source, exc, SweepFile)) from None
    here = path.parent
    out_dir = Path(out) if out is not None else here / (sweep.out or f"runs/{sweep.name or path.stem}")
    out_dir = Path(os.path.normpath(out_dir.absolute()))  # Ray workers need not share the driver's cwd
    runs: list[Run] = []
    errors: list[str] = []
    for i, relative in enumerate(sweep.scenarios):
        try:
            base = scenarios.load(here / relative)
        except scenarios.ScenarioError as exc:
            errors.append(f"{source}: scenarios[{i}]: {exc}".replace("\n", f"\n{source}: scenarios[{i}]: "))
            continue
        data = _merge(base.model_dump(mode="json"), sweep.overrides)
        try:
            scenarios.parse(data, f"{source}: overrides")
        except scenarios.ScenarioError as exc:
            errors.extend(str(exc).splitlines())
            continue
        grids = sweep.policies or [PolicyGrid(name=base.policy.name, params=dict(base.policy.params))]
        for j, grid in enumerate(grids):
            for params in grid.points():
                for seed in sweep.seeds:
                    point = dict(data, seed=seed, policy={"name": grid.name, "params": params})
                    try:
                        resolved = scenarios.parse(point, f"{source}: policies[{j}]")
                    except scenarios.ScenarioError as exc:
                        errors.extend(str(exc).splitlines())
                        break
                    runs.append(Run(resolved, params, out_dir / run_name(resolved.name, grid.name, params, seed)))
    if errors:
        raise SweepError("\n".join(dict.fromkeys(errors)))
    seen: dict[Path, int] = {}
    for run in runs:
        if run.path in seen:
            raise SweepError(f"{source}: scenarios: two grid points share the run directory {run.path.name} "
                             "(scenarios with the same name?)")
        seen[run.path] = 1
    return out_dir, runs
