"""Model and update transfers of federated learning as SimPy processes: the access link and the WAN, in order.

Off the request path (once per client per round), so they read like the story: wake the radio (its promotion, if
it was idle), carry the bytes over the device's access link, book the radio energy, then the WAN; downloads the
other way round. Each wait resumes the process at the instant the calendar entry or the link says, before any
later entry of that instant, exactly where the callbacks it replaces ran.
"""
from __future__ import annotations

from typing import Any

import simpy


def _sent(env: simpy.Environment, link, nbytes: float) -> simpy.Event:
    """An event that fires when `link` has carried `nbytes` (processor sharing with its other flows)."""
    done = env.event()
    link.send(nbytes, lambda _: done.succeed(), 0)
    return done


def _at(env: simpy.Environment, calendar, time_s: float) -> simpy.Event:
    """An event that fires at `time_s`, in the calendar's order for that instant (as a radio promotion ends)."""
    due = env.event()
    calendar.at(time_s, lambda _: due.succeed(), None)
    return due


def carry(world: Any, dev: int, nbytes: float, uplink: bool, wan: bool = True):
    """Carry `nbytes` between device `dev` and the cloud (`wan` False: its site, the access link only).

    No request row: the radio's joules, tail included, stay in the device's ledger. (`world`: the sim.world.World.)
    """
    env, energy, topology = world.env, world.energy, world.topology
    site = topology.sites[topology.home_site[dev]]
    if not uplink and wan:
        yield _sent(env, site.wan_down, nbytes)
    delay, _ = energy.radio_start(dev, env.now)
    begun = env.now + delay
    yield _at(env, world.calendar, begun)
    yield _sent(env, topology.up_link[dev] if uplink else topology.down_link[dev], nbytes)
    energy.radio_end(dev, env.now, nbytes, env.now - begun, uplink)
    if uplink and wan:
        yield _sent(env, site.wan_up, nbytes)
