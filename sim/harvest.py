"""Energy harvesting profiles: closed-form energy collected between two simulated instants."""
from __future__ import annotations

import math
from dataclasses import dataclass

DAY_S = 86400.0
SUNRISE_S, SUNSET_S = 6 * 3600.0, 18 * 3600.0


@dataclass(frozen=True)
class Solar:
    """A panel giving peak_w * sin(pi * (t - sunrise) / daylight) between 06:00 and 18:00, nothing at night.

    Simulated time 0 is midnight of the scenario's start date. An assumed clear-sky shape: scale
    peak_w for panel size, orientation and weather.
    """

    peak_w: float

    def _cumulative_j(self, t: float) -> float:
        daylight = SUNSET_S - SUNRISE_S
        per_day = self.peak_w * daylight * 2.0 / math.pi
        days, x = divmod(t, DAY_S)
        if x <= SUNRISE_S:
            partial = 0.0
        elif x >= SUNSET_S:
            partial = per_day
        else:
            partial = self.peak_w * daylight / math.pi * (1.0 - math.cos(math.pi * (x - SUNRISE_S) / daylight))
        return days * per_day + partial

    def energy_j(self, start_s: float, end_s: float) -> float:
        return self._cumulative_j(end_s) - self._cumulative_j(start_s)
