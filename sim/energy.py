"""Device energy: batteries with harvesting, idle and compute power, and the radio state machine."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.harvest import Solar
from sim.catalogue import DeviceProfile, LinkProfile

if TYPE_CHECKING:
    from sim.recorder import Recorder

COMPONENTS = ("compute", "radio_tx", "radio_rx", "radio_tail", "idle")
ACTIVE_COMPONENTS = COMPONENTS[:-1]  # all but idle: what serving requests and federated learning spent
NO_PROMOTION = (0.0, 0.0)  # (delay s, energy J) of a transfer that finds the radio active or in its tail
NO_REQUEST = -1  # the row of a transfer no request made (federated model downloads and update uploads)


class FleetEnergy:
    """Per-device energy ledgers and battery levels, charged as energy is spent.

    Idle power and harvesting are integrated lazily (closed form) whenever a device's battery is
    looked at, so they cost nothing per event. An empty battery switches the device off (no idle
    drain, no service) until harvesting brings it back to `revive_soc`. Every joule taken from a
    battery is booked to exactly one component, so for each device
    sum(components) == initial - final + harvested - wasted (harvest that found the battery full).

    Radio (Huang et al. 2012): a transfer that starts while the radio is active or in its tail
    pays no promotion and ends the tail early; otherwise it pays promotion (time and energy)
    and the previous tail is charged in full. Active power is linear in throughput,
    P = a_u*up_Mbps + a_d*down_Mbps + b, so a transfer of S bytes over d seconds costs
    a * 8S/1e6 + b * d joules.

    Attribution: a request's radio joules (promotion, transfer and tail) are also billed to its row of
    the recorder's energy_radio_j, as they are spent. A tail belongs to the request whose transfer
    ended when the radio went idle, however the tail ends (in full, cut by the next transfer, or by the
    end of the run); federated transfers have no row, so theirs stay in the device ledger only.
    """

    def __init__(self, devices: list[DeviceProfile], links: list[LinkProfile], batteries: list[float | None],
                 harvest: list[Solar | None] | None = None, revive_soc: list[float] | None = None,
                 cpu_scale: list[float] | None = None):
        n = len(devices)
        scale = cpu_scale or [1.0] * n
        self.idle_w = [d.idle_w for d in devices]
        # DVFS: dynamic power ~ kappa f^3, so running at a fraction s of f_max scales it by s^3
        self.dynamic_w = [(d.active_w - d.idle_w) * s**3 for d, s in zip(devices, scale)]
        self.links = links
        self.capacity_j = list(batteries)
        self.level_j: list[float | None] = list(batteries)
        self.harvest = harvest or [None] * n
        self.revive_soc = revive_soc or [0.2] * n
        self.harvested_j = [0.0] * n
        self.wasted_j = [0.0] * n
        self.spent = {c: [0.0] * n for c in COMPONENTS}
        # the same ledgers as attributes: the hot path charges them without a dict lookup
        self._compute_j, self._tx_j, self._rx_j, self._tail_j, self._idle_j = (self.spent[c] for c in COMPONENTS)
        self.death_s: list[float | None] = [None] * n  # first time the battery emptied
        self.deaths = [0] * n
        self._off = [False] * n
        self._last = [0.0] * n
        self._radio_active = [0] * n
        self._radio_idle_since: list[float | None] = [None] * n  # end of the last transfer (tail start)
        self._tail_owner = [NO_REQUEST] * n  # row of the request whose transfer left the radio idle
        self.recorder: Recorder | None = None  # where requests' radio joules are billed (World sets it)
        # a memoryview of the recorder's energy_radio_j: a float32 += through it costs half of numpy's
        self._billed_column = None
        self._billed = None

    # --- battery ------------------------------------------------------------------------------
    def _gain(self, dev: int, level: float, joules: float) -> float:
        """Add harvested joules, spilling what does not fit."""
        self.harvested_j[dev] += joules
        level += joules
        capacity = self.capacity_j[dev]
        if level > capacity:
            self.wasted_j[dev] += level - capacity
            level = capacity
        return level

    def _switch_off(self, dev: int, when: float) -> None:
        self._off[dev] = True
        self.deaths[dev] += 1
        if self.death_s[dev] is None:
            self.death_s[dev] = when

    def _settle(self, dev: int, now: float) -> None:
        """Integrate idle drain and harvest since the device was last looked at (batteries only)."""
        if self.level_j[dev] is None:  # mains powered: idle is charged once, at the end
            return
        last = self._last[dev]
        if now <= last:
            return
        self._last[dev] = now
        level = self.level_j[dev]
        panel = self.harvest[dev]
        gain = panel.energy_j(last, now) if panel is not None else 0.0
        if not self._off[dev]:
            drain = self.idle_w[dev] * (now - last)
            if level + gain - drain > 0.0:
                self._idle_j[dev] += drain
                self.level_j[dev] = self._gain(dev, level - drain, gain) if gain else level - drain
                return
            # emptied inside the interval: assume constant net power over it to place the instant
            share = level / (drain - gain) if drain > gain else 1.0
            self._idle_j[dev] += drain * share
            self.harvested_j[dev] += gain * share
            self._switch_off(dev, last + share * (now - last))
            level, gain = 0.0, gain * (1.0 - share)
        level = self._gain(dev, level, gain)
        self.level_j[dev] = level
        if level >= self.revive_soc[dev] * self.capacity_j[dev]:
            self._off[dev] = False

    def alive(self, dev: int, now: float) -> bool:
        """False while the battery is empty (or recharging below the revive level)."""
        if self.level_j[dev] is None:
            return True
        self._settle(dev, now)
        return not self._off[dev]

    def soc(self, dev: int, now: float) -> float:
        """State of charge in [0, 1]; 1.0 for mains-powered devices."""
        capacity = self.capacity_j[dev]
        if capacity is None:
            return 1.0
        self._settle(dev, now)
        return max(0.0, self.level_j[dev] / capacity)

    def _charge(self, dev: int, ledger: list[float], joules: float, now: float, row: int = NO_REQUEST) -> None:
        """Book joules to a component's ledger and to request `row`, and on a battery take them from it."""
        ledger[dev] += joules
        if row >= 0:
            column = self.recorder.energy_radio_j
            if column is not self._billed_column:  # the recorder grew: its columns are new arrays
                self._billed_column, self._billed = column, memoryview(column)
            self._billed[row] += joules
        if self.level_j[dev] is None:
            return
        if now > self._last[dev]:  # not yet brought up to this instant
            self._settle(dev, now)
        level = self.level_j[dev] - joules
        self.level_j[dev] = level
        if level <= 0.0 and not self._off[dev]:
            self._switch_off(dev, now)

    # --- compute --------------------------------------------------------------------------------
    def compute(self, dev: int, seconds: float, now: float) -> float:
        """Charge the power above idle for `seconds` of busy CPU; returns the joules."""
        joules = self.dynamic_w[dev] * seconds
        self._charge(dev, self._compute_j, joules, now)
        return joules

    # --- radio ----------------------------------------------------------------------------------
    def radio_start(self, dev: int, now: float, row: int = NO_REQUEST) -> tuple[float, float]:
        """Request `row`'s transfer starts: returns (promotion delay s, promotion energy J) and settles the tail."""
        active = self._radio_active[dev]
        self._radio_active[dev] = active + 1
        if active:
            return NO_PROMOTION
        idle_since = self._radio_idle_since[dev]
        link = self.links[dev]
        if idle_since is not None:
            gap = now - idle_since
            # the tail ends here (cut short, or run in full): it is the request's that left the radio idle
            if gap < link.tail_s:  # still in the tail: no promotion
                self._charge(dev, self._tail_j, gap * link.tail_w, now, self._tail_owner[dev])
                return NO_PROMOTION
            self._charge(dev, self._tail_j, link.tail_s * link.tail_w, now, self._tail_owner[dev])
        promotion_j = link.promotion_s * link.promotion_w
        self._charge(dev, self._tx_j, promotion_j, now, row if promotion_j else NO_REQUEST)  # WiFi: none
        return link.promotion_s, promotion_j

    def radio_idle_s(self, dev: int, now: float) -> float:
        """Seconds since the radio last finished a transfer: 0 while one is active, inf if never used."""
        if self._radio_active[dev]:
            return 0.0
        since = self._radio_idle_since[dev]
        return float("inf") if since is None else now - since

    def radio_end(self, dev: int, now: float, nbytes: float, seconds: float, uplink: bool,
                  row: int = NO_REQUEST) -> float:
        """Request `row`'s transfer of nbytes that took `seconds` ends; returns its active-radio joules.

        If it leaves the radio idle, the tail that follows is the request's.
        """
        link = self.links[dev]
        slope = link.a_up_w_per_mbps if uplink else link.a_down_w_per_mbps
        joules = slope * nbytes * 8e-6 + link.base_w * seconds
        self._charge(dev, self._tx_j if uplink else self._rx_j, joules, now, row)
        active = self._radio_active[dev] - 1
        self._radio_active[dev] = active
        if not active:
            self._radio_idle_since[dev] = now
            self._tail_owner[dev] = row
        return joules

    def open_tails(self, now: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Requests whose radio tail is not billed yet: (row, joules of the full tail, whether it has run in full
        by `now`). A tail that has run in full is billed exactly those joules later, whenever that happens."""
        rows, joules, done = [], [], []
        for dev, owner in enumerate(self._tail_owner):
            since = self._radio_idle_since[dev]
            if owner >= 0 and since is not None and not self._radio_active[dev]:
                link = self.links[dev]
                rows.append(owner)
                joules.append(link.tail_s * link.tail_w)  # the expression radio_start and close bill
                done.append(now - since >= link.tail_s)
        return np.array(rows, np.int64), np.array(joules, np.float64), np.array(done, bool)

    # --- end of run -----------------------------------------------------------------------------
    def close(self, end_s: float) -> None:
        """Charge open radio tails and idle power up to the end of the run."""
        for dev in range(len(self.idle_w)):
            idle_since = self._radio_idle_since[dev]
            if idle_since is not None and not self._radio_active[dev]:
                link = self.links[dev]
                tail_j = min(end_s - idle_since, link.tail_s) * link.tail_w
                self._charge(dev, self._tail_j, tail_j, end_s, self._tail_owner[dev])
                self._radio_idle_since[dev] = None
            if self.level_j[dev] is None:
                self._idle_j[dev] += self.idle_w[dev] * end_s
            else:
                self._settle(dev, end_s)
