"""The `governor:` of a fleet entry: how its devices' CPUs pick a frequency step (sim.dvfs) from the profile's
P-state table (`pstates:` in sim/catalogue/devices.yaml)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from sim import units
from sim.catalogue import DEVICES, overrides
from sim.limits import shown
from sim.scenario_types import Duration, Strict, _unit

_FREQUENCY = {"Hz": 1.0, "kHz": 1e3, "MHz": 1e6, "GHz": 1e9}
Frequency = _unit(lambda text: units._parse(text, _FREQUENCY, "frequency", "1.5GHz"), "Hz", "1.5GHz")
MIN_SAMPLING_S = 1e-3  # a faster governor would wake more often than requests arrive
GOVERNORS = ("performance", "powersave", "userspace", "ondemand", "schedutil")


class Governor(Strict):
    name: Literal["performance", "powersave", "userspace", "ondemand", "schedutil"]
    cpu_scale: float | None = Field(default=None, gt=0.0, le=1.0, exclude_if=lambda v: v is None,
                                    description="userspace: f / f_max on any profile (today's cpu_scale, cube law)")
    frequency: Frequency | None = Field(default=None, exclude_if=lambda v: v is None,
                                        description="userspace: one step of the profile's P-state table")
    sampling: Duration = Field(default=0.1, description="ondemand, schedutil: utilisation is read this often")
    up_threshold: float = Field(default=0.8, gt=0.0, le=1.0,
                                description="ondemand: utilisation above which it jumps to the top step")

    @model_validator(mode="after")
    def _fields_of_name(self) -> Governor:
        if self.name == "userspace":
            if (self.cpu_scale is None) == (self.frequency is None):
                raise ValueError("userspace needs exactly one of `cpu_scale:` (f / f_max) or `frequency:` (a step)")
        elif self.cpu_scale is not None or self.frequency is not None:
            raise ValueError(f"`cpu_scale:` and `frequency:` belong to userspace; {self.name} picks its own steps")
        if self.sampling < MIN_SAMPLING_S:
            raise ValueError(f"sampling must be >= {MIN_SAMPLING_S * 1e3:g}ms, got {self.sampling:g}s")
        return self

    @property
    def uses_table(self) -> bool:
        """False only for userspace at a cpu_scale, which is today's static cube-law scaling."""
        return self.cpu_scale is None


def check(scenario: Any) -> tuple[str, str] | None:
    """The first (field path, problem) of the fleet's governors, or None (typed Any: no import cycle)."""
    for i, group in enumerate(scenario.fleet):
        governor, where = group.governor, f"fleet[{i}]"
        if governor is None:
            continue
        if group.cpu_scale != 1.0:
            return f"{where}.cpu_scale", "is the userspace governor's setting; with `governor:` drop `cpu_scale:`"
        profile = scenario.device_profile(group.profile)
        if profile.accelerator is not None:
            return f"{where}.governor", (f"profile {shown(group.profile)} runs inference on its accelerator; a "
                                         "governor scales the CPU only")
        if not governor.uses_table:
            continue
        if profile.pstates is None:
            with_table = [name for name in overrides.known_names(scenario.profiles, DEVICES) if scenario.device_profile(name).pstates]
            return f"{where}.governor", (f"{governor.name} needs the profile's P-state table; "
                                         f"{shown(group.profile)} has none (profiles with one: {', '.join(with_table)})")
        steps = profile.pstates.frequency_hz
        if governor.frequency is not None and governor.frequency not in steps:
            return f"{where}.governor.frequency", (f"must be a step of {group.profile}: "
                                                   f"{', '.join(f'{f / 1e6:g}MHz' for f in steps)}; "
                                                   f"got {governor.frequency / 1e6:g}MHz")
    return None
