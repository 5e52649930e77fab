"""The calendar: its own entries in time order, interleaved with SimPy's events as if they were events."""
from __future__ import annotations

import simpy

from sim.calendar import Calendar, EndOfInstant


def test_entries_run_in_time_order_and_fifo_at_equal_times():
    env = simpy.Environment()
    calendar = Calendar(env)
    seen = []
    for time, tag in [(3.0, "c"), (1.0, "a"), (2.0, "b1"), (2.0, "b2"), (2.0, "b3")]:
        calendar.at(time, lambda t: seen.append((env.now, t)), tag)
    env.run()
    assert seen == [(1.0, "a"), (2.0, "b1"), (2.0, "b2"), (2.0, "b3"), (3.0, "c")]
    assert len(calendar) == 0


def test_interleaves_with_a_simpy_process_and_lets_simpy_go_first_at_ties():
    env = simpy.Environment()
    calendar = Calendar(env)
    seen = []

    def process():
        for time in (0.5, 1.0, 2.5):
            yield env.timeout(time - env.now)
            seen.append(("simpy", env.now))

    env.process(process())
    for time in (0.25, 1.0, 2.0, 3.0):
        calendar.at(time, lambda t: seen.append(("calendar", env.now)), None)
    env.run()
    assert seen == [("calendar", 0.25), ("simpy", 0.5), ("simpy", 1.0), ("calendar", 1.0), ("calendar", 2.0),
                    ("simpy", 2.5), ("calendar", 3.0)]


def test_an_event_of_a_priority_after_normal_waits_for_the_instants_entries_fed_and_chained_ones_too():
    env = simpy.Environment()
    calendar = Calendar(env)
    seen = []

    def process():
        yield env.timeout(1.0)
        seen.append(("simpy", env.now))
        yield EndOfInstant(env)
        seen.append(("end of instant", env.now))

    def entry(name):
        seen.append((name, env.now))
        if name == "heap":  # scheduled within the instant: still before its end
            calendar.at(env.now, entry, "chained")

    env.process(process())
    calendar.at(1.0, entry, "heap")
    calendar.feed(iter([([1.0, 2.0], ["fed", "fed later"])]), entry)
    env.run()
    assert seen == [("simpy", 1.0), ("fed", 1.0), ("heap", 1.0), ("chained", 1.0), ("end of instant", 1.0),
                    ("fed later", 2.0)]


def test_an_earlier_entry_from_a_simpy_callback_supersedes_the_pending_wake_up():
    env = simpy.Environment()
    calendar = Calendar(env)
    seen = []
    calendar.at(10.0, lambda t: seen.append((env.now, t)), "late")

    def process():
        yield env.timeout(1.0)
        calendar.at(4.0, lambda t: seen.append((env.now, t)), "early")  # scheduled from outside the calendar

    env.process(process())
    env.run()
    assert seen == [(4.0, "early"), (10.0, "late")]  # each exactly once, at its own time


def test_entries_scheduled_while_running_run_in_the_same_pass():
    env = simpy.Environment()
    calendar = Calendar(env)
    seen = []

    def chain(k):
        seen.append((env.now, k))
        if k < 4:
            calendar.at(env.now + 0.5, chain, k + 1)

    calendar.at(1.0, chain, 0)
    env.run()
    assert seen == [(1.0 + 0.5 * k, k) for k in range(5)]


def test_run_until_stops_before_later_entries_and_resumes_them():
    env = simpy.Environment()
    calendar = Calendar(env)
    seen = []
    for time in (1.0, 2.0, 3.0, 4.0):
        calendar.at(time, seen.append, time)
    env.run(until=2.0)
    assert seen == [1.0] and env.now == 2.0  # an entry at the stop time waits for the next slice
    env.run(until=3.5)
    assert seen == [1.0, 2.0, 3.0] and env.now == 3.5
    env.run()
    assert seen == [1.0, 2.0, 3.0, 4.0]


def test_a_fed_stream_merges_with_heap_entries_and_simpy_and_skips_empty_chunks():
    env = simpy.Environment()
    calendar = Calendar(env)
    seen = []

    def process():
        yield env.timeout(2.5)
        seen.append(("simpy", env.now))

    env.process(process())
    calendar.at(1.5, lambda t: seen.append(("heap", env.now)), None)
    calendar.at(3.0, lambda t: seen.append(("heap", env.now)), None)
    chunks = iter([([], []), ([1.0, 2.0], ["a", "b"]), ([], []), ([3.0, 4.0], ["c", "d"])])
    calendar.feed(chunks, lambda arg: seen.append((arg, env.now)))
    env.run(until=3.5)
    # a fed item runs before a heap entry at the same time (3.0); SimPy's event at 2.5 in between
    assert seen == [("a", 1.0), ("heap", 1.5), ("b", 2.0), ("simpy", 2.5), ("c", 3.0), ("heap", 3.0)]
    env.run()
    assert seen[-1] == ("d", 4.0)
