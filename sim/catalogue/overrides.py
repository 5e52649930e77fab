"""A scenario's own catalogue entries: changes to a catalogue entry, or a new entry built on one (`base:`).

The scenario schema (sim/scenario.py) holds the override models; this module checks that they name catalogue
entries and applies them, the same way for devices (`profiles:`) and links (`links:`).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

Profile = TypeVar("Profile")


class Override(Protocol):
    base: str | None

    def changes(self) -> dict[str, Any]: ...


class LinkOverride(BaseModel):
    """A new link (with `base`) or changes to a catalogue one; unset fields keep the base's values (SI units)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base: str | None = None
    up_bps: float | None = Field(default=None, gt=0)
    down_bps: float | None = Field(default=None, gt=0)
    rtt_s: float | None = Field(default=None, ge=0)
    a_up_w_per_mbps: float | None = Field(default=None, ge=0)
    a_down_w_per_mbps: float | None = Field(default=None, ge=0)
    base_w: float | None = Field(default=None, ge=0)
    promotion_s: float | None = Field(default=None, ge=0)
    promotion_w: float | None = Field(default=None, ge=0)
    tail_s: float | None = Field(default=None, ge=0)
    tail_w: float | None = Field(default=None, ge=0)
    source: str | None = None

    def changes(self) -> dict[str, Any]:
        """The LinkProfile fields this override sets."""
        return self.model_dump(exclude_none=True, exclude={"base"})


def first_problem(section: str, kind: str, overrides: Mapping[str, Override],
                  catalogue: Mapping[str, Any]) -> tuple[str, str] | None:
    """(field path, message) of the first override that builds on no catalogue entry, or None."""
    for name, override in overrides.items():
        if override.base is not None and override.base not in catalogue:
            return f"{section}.{name}.base", f"unknown {kind} {override.base!r}; allowed: {', '.join(catalogue)}"
        if override.base is None and name not in catalogue:
            return f"{section}.{name}", (f"a new {kind} needs `base: <catalogue {kind}>`; "
                                         f"catalogue: {', '.join(catalogue)}")
    return None


def known_names(overrides: Mapping[str, Override], catalogue: Mapping[str, Any]) -> list[str]:
    """The catalogue's names, then the scenario's new ones."""
    return list(catalogue) + [name for name in overrides if name not in catalogue]


def resolve(catalogue: Mapping[str, Profile], name: str, override: Override | None) -> Profile:
    """The profile `name`: the catalogue entry, or its base with the scenario's changes applied."""
    if override is None:
        return catalogue[name]
    changes = override.changes()
    changes.setdefault("source", f"scenario override of {override.base or name}")
    return dataclasses.replace(catalogue[override.base or name], name=name, **changes)
