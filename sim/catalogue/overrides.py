"""A scenario's own catalogue entries: changes to a catalogue entry, or a new entry built on one (`base:`).

The override models are the schema of a scenario's `profiles:` (devices) and `links:`; the functions check
that they build on catalogue entries and apply them, the same way for both.
"""
from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Mapping, Protocol, TypeVar

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from sim import units
from sim.limits import MAX_CORES

Profile = TypeVar("Profile")


class Override(Protocol):
    base: str | None

    def changes(self) -> dict[str, Any]: ...


def _battery_j(value: Any) -> float:
    energy = units.energy_j(value)
    if energy <= 0:
        raise ValueError(f"must be > 0, got {value!r}")
    return energy


# written like the scenario's other energies ("15Wh"), dumped back in joules that the same parser reads
Battery = Annotated[float, BeforeValidator(_battery_j), PlainSerializer(lambda v: f"{v!r}J", return_type=str)]
_STRICT = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # as the scenario: no inf or NaN


class DeviceOverride(BaseModel):
    """A new device profile (with `base`) or changes to a catalogue one; unset fields keep the base's values."""

    model_config = _STRICT

    base: str | None = None
    lstm_flops_per_s: float | None = Field(default=None, gt=0)
    cores: int | None = Field(default=None, ge=1, le=MAX_CORES)
    idle_w: float | None = Field(default=None, ge=0)
    active_w: float | None = Field(default=None, gt=0)
    ram_bytes: float | None = Field(default=None, gt=0)
    battery: Battery | None = None
    source: str | None = Field(default=None, validation_alias=AliasChoices("source", "sources"))  # "sources": the old key

    def changes(self) -> dict[str, Any]:
        """The DeviceProfile fields this override sets (the battery in joules, as battery_j)."""
        changes = self.model_dump(exclude_none=True, exclude={"base", "battery"})
        return changes if self.battery is None else {**changes, "battery_j": self.battery}


class LinkOverride(BaseModel):
    """A new link (with `base`) or changes to a catalogue one; unset fields keep the base's values (SI units)."""

    model_config = _STRICT

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
    handover_s: float | None = Field(default=None, ge=0)
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
