"""The value types of scenario files: quantities with units (parsed by sim.units, serialised back to text that
parses again) and the strict, frozen base model every section uses."""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema

from sim import limits, units
from sim.limits import shown


def _unit(parse, suffix: str, example: str, *, positive: bool = True, at_most: tuple[float, str] | None = None):
    def check(value: Any) -> float:
        number = parse(value)
        if positive and number <= 0:
            raise ValueError(f"must be > 0, got {shown(value)}")
        if at_most is not None and number > at_most[0]:
            raise ValueError(f"must be <= {at_most[1]}, got {shown(value)}")
        return number

    # serialise back to a string that the same parser reads, so a resolved scenario reloads
    # editors (JSON Schema) see what a file holds: a string with a unit, not the float it becomes
    schema = WithJsonSchema({"type": "string", "examples": [example], "description": f"with a unit, e.g. {example}"})
    return Annotated[float, BeforeValidator(check), PlainSerializer(lambda v: f"{v!r}{suffix}", return_type=str),
                     schema]


Duration = _unit(units.duration_s, "s", "250ms")
Bitrate = _unit(units.bitrate_bps, "bps", "20Mbps")
EventRate = _unit(units.event_rate_per_s, "/s", "12/min")
Energy = _unit(units.energy_j, "J", "15Wh")
Power = _unit(units.power_w, "W", "2W", positive=False)
Size = _unit(units.size_bytes, "B", "4MB")
# spans of the data set: np.arange and the device series allocate one entry per hour of them
DataSpan = _unit(units.duration_s, "s", "14d", at_most=(limits.MAX_DATA_SPAN_S, f"{limits.MAX_DATA_SPAN_S / 86400:g}d "
                                                                         "(the data set covers 14 months)"))


class Strict(BaseModel):
    # NaN and infinity are never a usable setting (they pass every bound: NaN compares false)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
