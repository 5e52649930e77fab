"""Pausing a SimPy world for an agent: an event whose callback raises out of the event loop (no threads).

env.step() pops the event and runs its callbacks; the exception leaves the heap intact, so the next env.step()
resumes the world exactly where it stopped.
"""
from __future__ import annotations

import simpy
from simpy.events import URGENT


class Decision(Exception):
    """The world waits for the agent's action (raised out of the event loop)."""


class EpisodeEnd(Exception):
    """Simulated time reached the scenario's duration."""


def _raise_decision(_: simpy.Event) -> None:
    raise Decision


def _raise_end(_: simpy.Event) -> None:
    raise EpisodeEnd


def _raising_event(env: simpy.Environment, callback, at_s: float) -> None:
    # URGENT: before anything else at that time, as env.run(until=) does
    event = simpy.Event(env)
    event._ok, event._value = True, None
    event.callbacks.append(callback)
    env.schedule(event, URGENT, at_s - env.now)


def end_at(env: simpy.Environment, at_s: float) -> None:
    """EpisodeEnd leaves env.step() when simulated time reaches `at_s`."""
    _raising_event(env, _raise_end, at_s)


def pause_now(env: simpy.Environment) -> None:
    """Decision leaves env.step() once the processes already due now have run up to their next yield."""
    _raising_event(env, _raise_decision, env.now)


def run_until_decision(step, finish) -> bool:
    """Step the world (`step`: env.step or the calendar's) until it waits for a decision (True) or the episode
    ends (False, after `finish()` closed the world's books)."""
    try:
        while True:
            step()
    except Decision:
        return True
    except EpisodeEnd:
        finish()
        return False
