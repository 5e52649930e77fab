"""The seams where a new kind of link, server or radio model plugs in: small protocols, like LEAF's PowerModel.

The request path (sim.serving), the topology and the transfers of federated learning use these methods and nothing
else of the parts; the first kind of each is today's: sim.network.SharedLink (processor sharing),
sim.servers.FifoServer (c cores, one FIFO queue, Lindley) and sim.energy.FleetEnergy (the promotion/tail machine of
every device's radio). tests/sim/test_protocols.py holds each kind to its protocol.
"""
from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable


@runtime_checkable
class Link(Protocol):
    """One direction of a link that flows share: it carries bytes and calls back when a flow's last byte is in."""

    name: str
    bytes_per_s: float  # its rate now (0 while it is down)
    capacity_bps: float  # its rate when up, in bit/s: what a device's estimate starts from

    def send(self, nbytes: float, on_done: Callable[[object], None], token: object) -> None:
        """Start a flow of `nbytes` now; call on_done(token) when it is delivered."""

    def set_capacity(self, capacity_bps: float) -> None:
        """Change the rate from now on (a bandwidth trace); flows in progress keep their progress."""

    def counters(self) -> tuple[float, float]:
        """(busy seconds, bytes carried) so far: utilisation and throughput samples."""


@runtime_checkable
class FailingLink(Link, Protocol):
    """A link that can go down (sim.outages): its flows wait while it is down and go on at the repair."""

    def stall(self) -> None: ...

    def resume(self) -> None: ...


@runtime_checkable
class Server(Protocol):
    """A server's queue (a device CPU, an edge site, the cloud): when an arriving job starts, and its wait."""

    busy_s: float

    def admit(self, now: float, service_s: float) -> float:
        """Queue a job arriving at `now` needing `service_s`; return when it starts."""

    def wait_s(self, now: float) -> float:
        """How long a job arriving now would wait."""


@runtime_checkable
class RadioEnergy(Protocol):
    """The devices' radios: what a transfer's start and end cost, and how long a radio has been idle."""

    def radio_start(self, dev: int, now: float, row: int = -1) -> tuple[float, float]:
        """A transfer of request `row` (-1: none) starts: (promotion delay s, promotion J)."""

    def radio_end(self, dev: int, now: float, nbytes: float, seconds: float, uplink: bool, row: int = -1) -> float:
        """The transfer of `nbytes` that took `seconds` ends: its active-radio joules."""

    def radio_idle_s(self, dev: int, now: float) -> float:
        """Seconds since the device's last transfer ended (inf: never), what a policy sees of its radio."""
