"""Device energy: batteries, idle and compute power, and the radio state machine (promotion, active, tail)."""
from __future__ import annotations

from sim.profiles import DeviceProfile, LinkProfile

COMPONENTS = ("compute", "radio_tx", "radio_rx", "radio_tail", "idle")


class FleetEnergy:
    """Per-device energy ledgers, charged as energy is spent; idle drain is integrated lazily.

    Radio (Huang et al. 2012): a transfer that starts while the radio is active or in its tail
    pays no promotion and ends the tail early; otherwise it pays promotion (time and energy)
    and the previous tail is charged in full. Active power is linear in throughput,
    P = a_u*up_Mbps + a_d*down_Mbps + b, so a transfer of S bytes over d seconds costs
    a * 8S/1e6 + b * d joules.
    """

    def __init__(self, devices: list[DeviceProfile], links: list[LinkProfile], batteries: list[float | None]):
        n = len(devices)
        self.idle_w = [d.idle_w for d in devices]
        self.dynamic_w = [d.active_w - d.idle_w for d in devices]
        self.links = links
        self.capacity_j = list(batteries)
        self.spent = {c: [0.0] * n for c in COMPONENTS}
        self._committed = [0.0] * n  # everything but idle, for the battery level
        self.death_s: list[float | None] = [None] * n
        self._radio_active = [0] * n
        self._radio_idle_since: list[float | None] = [None] * n  # end of the last transfer (tail start)

    # --- battery ------------------------------------------------------------------------------
    def alive(self, dev: int, now: float) -> bool:
        """False once the battery is empty; records the instant it emptied."""
        if self.death_s[dev] is not None:
            return False
        capacity = self.capacity_j[dev]
        if capacity is None:
            return True
        idle = self.idle_w[dev]
        left = capacity - self._committed[dev]
        if left <= 0.0 or (idle > 0.0 and left - idle * now <= 0.0):
            self.death_s[dev] = min(now, max(left, 0.0) / idle) if idle > 0.0 else now
            return False
        return True

    def soc(self, dev: int, now: float) -> float:
        """State of charge in [0, 1]; 1.0 for mains-powered devices."""
        capacity = self.capacity_j[dev]
        if capacity is None:
            return 1.0
        return max(0.0, 1.0 - (self._committed[dev] + self.idle_w[dev] * now) / capacity)

    def _charge(self, dev: int, component: str, joules: float) -> None:
        self.spent[component][dev] += joules
        self._committed[dev] += joules

    # --- compute --------------------------------------------------------------------------------
    def compute(self, dev: int, seconds: float) -> float:
        """Charge the power above idle for `seconds` of busy CPU; returns the joules."""
        joules = self.dynamic_w[dev] * seconds
        self._charge(dev, "compute", joules)
        return joules

    # --- radio ----------------------------------------------------------------------------------
    def radio_start(self, dev: int, now: float) -> tuple[float, float]:
        """A transfer starts: returns (promotion delay s, promotion energy J) and settles the tail."""
        link = self.links[dev]
        active = self._radio_active[dev]
        self._radio_active[dev] = active + 1
        if active:
            return 0.0, 0.0
        idle_since = self._radio_idle_since[dev]
        if idle_since is not None:
            gap = now - idle_since
            if gap < link.tail_s:
                self._charge(dev, "radio_tail", gap * link.tail_w)
                return 0.0, 0.0
            self._charge(dev, "radio_tail", link.tail_s * link.tail_w)
        promotion_j = link.promotion_s * link.promotion_w
        self._charge(dev, "radio_tx", promotion_j)
        return link.promotion_s, promotion_j

    def radio_idle_s(self, dev: int, now: float) -> float:
        """Seconds since the radio last finished a transfer: 0 while one is active, inf if never used."""
        if self._radio_active[dev]:
            return 0.0
        since = self._radio_idle_since[dev]
        return float("inf") if since is None else now - since

    def radio_end(self, dev: int, now: float, nbytes: float, seconds: float, uplink: bool) -> float:
        """A transfer of nbytes that took `seconds` ends; returns its active-radio joules."""
        link = self.links[dev]
        slope = link.a_up_w_per_mbps if uplink else link.a_down_w_per_mbps
        joules = slope * nbytes * 8e-6 + link.base_w * seconds
        self._charge(dev, "radio_tx" if uplink else "radio_rx", joules)
        self._radio_active[dev] -= 1
        if not self._radio_active[dev]:
            self._radio_idle_since[dev] = now
        return joules

    # --- end of run -----------------------------------------------------------------------------
    def close(self, end_s: float) -> None:
        """Charge open tails and idle power up to the end of the run (or each device's death)."""
        for dev in range(len(self.idle_w)):
            self.alive(dev, end_s)
            stop = self.death_s[dev] if self.death_s[dev] is not None else end_s
            idle_since = self._radio_idle_since[dev]
            if idle_since is not None and not self._radio_active[dev] and idle_since < stop:
                link = self.links[dev]
                self._charge(dev, "radio_tail", min(stop - idle_since, link.tail_s) * link.tail_w)
                self._radio_idle_since[dev] = None
            self.spent["idle"][dev] += self.idle_w[dev] * stop
