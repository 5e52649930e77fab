"""Parse the human unit strings of scenario files ("250ms", "50Mbps", "2/min", "15Wh") into SI floats."""
from __future__ import annotations

import math
import re

from sim.limits import shown  # messages echo the input, cut to about a line

# digits[.digits] or .digits: one way to match each string, so a long run of digits is not retried quadratically
_NUMBER = r"((?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)"

# seconds per unit
_TIME = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
# bits per second per unit
_BITRATE = {"bps": 1.0, "kbps": 1e3, "Mbps": 1e6, "Gbps": 1e9}
# joules per unit
_ENERGY = {"J": 1.0, "kJ": 1e3, "mJ": 1e-3, "Wh": 3600.0, "mWh": 3.6, "kWh": 3.6e6}
# bytes per unit
_SIZE = {"B": 1.0, "KB": 1e3, "kB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 1024.0, "MiB": 1024.0**2}
# watts per unit
_POWER = {"W": 1.0, "mW": 1e-3, "kW": 1e3}


class UnitError(ValueError):
    """A value that is not a number with one of the allowed units."""


def _parse(text: object, table: dict[str, float], kind: str, example: str) -> float:
    if isinstance(text, bool):
        raise UnitError(f"expected a {kind} such as {example!r}, got {shown(text)}")
    if isinstance(text, (int, float)):
        raise UnitError(f"expected a {kind} with a unit such as {example!r}, got bare number {shown(text)}")
    if not isinstance(text, str):
        raise UnitError(f"expected a {kind} such as {example!r}, got {type(text).__name__}")
    match = re.fullmatch(_NUMBER + r"\s*([A-Za-z]+)", text.strip())
    if match is None or match.group(2) not in table:
        allowed = ", ".join(table)
        raise UnitError(f"expected a {kind} such as {example!r} (units: {allowed}), got {shown(text)}")
    value = float(match.group(1)) * table[match.group(2)]
    if not math.isfinite(value):
        raise UnitError(f"expected a finite {kind}, got {shown(text)}")
    return value


def duration_s(text: object) -> float:
    """'250ms' -> 0.25, '15min' -> 900.0, '24h' -> 86400.0."""
    return _parse(text, _TIME, "duration", "250ms")


def bitrate_bps(text: object) -> float:
    """'50Mbps' -> 5e7 bits per second."""
    return _parse(text, _BITRATE, "bit rate", "50Mbps")


def energy_j(text: object) -> float:
    """'15Wh' -> 54000.0 joules."""
    return _parse(text, _ENERGY, "energy", "15Wh")


def size_bytes(text: object) -> float:
    """'1.5KB' -> 1500.0 bytes."""
    return _parse(text, _SIZE, "size", "1.5KB")


def power_w(text: object) -> float:
    """'350mW' -> 0.35 watts."""
    return _parse(text, _POWER, "power", "350mW")


def event_rate_per_s(text: object) -> float:
    """'2/min' -> 1/30 events per second; also '1/s', '0.5/h'."""
    if isinstance(text, str):
        match = re.fullmatch(_NUMBER + r"\s*/\s*([A-Za-z]+)", text.strip())
        if match and match.group(2) in _TIME:
            value = float(match.group(1)) / _TIME[match.group(2)]
            if math.isfinite(value):
                return value
    raise UnitError(f"expected an event rate such as '2/min' (per: {', '.join(_TIME)}), got {shown(text)}")
