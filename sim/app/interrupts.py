"""Ctrl-C during a Flower simulation: stop within seconds, leave no Ray process behind, print no stray traceback.

Flower's run_simulation runs the ServerApp and its message workers in non-daemon threads. On a KeyboardInterrupt
it shuts Ray down while those threads still wait (the ServerApp up to its wall-clock timeout, the workers in a
`ray.get` that never returns), so the interpreter would wait for them at exit, for minutes or for ever, and
the workers log the dead actors' tracebacks. `stop_ray_on_interrupt` silences that log, ends Ray and its
processes and notes the interruption; `exit_process` then ends the process without joining those threads or
finalizing the half torn-down Ray driver (which can crash with SIGSEGV when Ctrl-C came during ray.init).
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from typing import Iterator

# SIGTERM to SIGKILL: an interrupted run keeps nothing of Ray, and gcs_server may ignore SIGTERM while it starts
GRACE_S = 1.0

_interrupted = False  # a simulation in this process was interrupted: its stranded threads must not be waited for


class _Interruption:
    """The processes a block started (Ray's) and how to end them when Ctrl-C comes."""

    def __init__(self):
        import ray  # noqa: F401  (puts Ray's bundled psutil on sys.path when psutil itself is not installed)
        import psutil

        self.me = psutil.Process()
        self.processes_before = set(self.me.children(recursive=True))
        self.seen: set = set()  # Ray's processes as they were at Ctrl-C, before any could be reparented
        self.stopping = False

    def on_sigint(self, signum, frame) -> None:
        if self.stopping:  # the cleanup is bounded: a second Ctrl-C must not cut it short
            return
        self.stopping = True
        _silence_flower()
        self.seen.update(self.me.children(recursive=True))
        raise KeyboardInterrupt

    def clean_up(self) -> None:
        """End Ray and every process the block started."""
        self.stopping = True
        _silence_flower()
        _shutdown_ray()
        self.seen.update(self.me.children(recursive=True))
        _end_processes(list(self.seen - self.processes_before))
        global _interrupted
        _interrupted = True


@contextmanager
def stop_ray_on_interrupt() -> Iterator[None]:
    """Run a block that starts Ray (Flower's simulation); on Ctrl-C end everything it started, then re-raise."""
    interruption = _Interruption()
    _unsilence_flower()  # a run after an interrupted one logs again
    previous = _install(interruption.on_sigint)
    try:
        yield
    except KeyboardInterrupt:
        interruption.clean_up()  # Flower stays silent: its stranded threads may still log a dead actor
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def exit_process(code: int | str | None) -> None:
    """Exit with `code`; after an interrupted simulation without the interpreter's exit, which would wait for
    Flower's stranded threads for ever."""
    if not _interrupted:
        raise SystemExit(code)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))


def swallowed_by_typer(done: SystemExit) -> bool:
    """True when typer turned a KeyboardInterrupt into exit 130 without a word (it raises Exit(130) from the
    interrupt); a command that reported its own interruption raised its Exit inside its except block instead."""
    typer_exit = done.__context__
    return done.code == 130 and typer_exit is not None and isinstance(typer_exit.__cause__, KeyboardInterrupt)


def _install(handler):
    """Our SIGINT handler, or None where none can be installed (not the main thread) or SIGINT is ignored."""
    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # e.g. a background job: keep ignoring it
        return None
    return signal.signal(signal.SIGINT, handler)


def _silence_flower() -> None:
    logging.getLogger("flwr").disabled = True  # its workers log every dead actor with a traceback


def _unsilence_flower() -> None:
    logging.getLogger("flwr").disabled = False


def _shutdown_ray() -> None:
    import ray

    if ray.is_initialized():  # Flower shuts Ray down itself, unless the interrupt came before it could
        ray.shutdown()


def _end_processes(processes: list) -> None:
    """SIGTERM, GRACE_S to exit, then SIGKILL: Ray's workers may ignore SIGINT and outlive their raylet."""
    stubborn = _signal_and_wait([p for p in processes if _alive(p)], "terminate", GRACE_S)
    _signal_and_wait(stubborn, "kill", 1.0)


def _signal_and_wait(processes: list, how: str, timeout_s: float) -> list:
    """Send each process SIGTERM (how='terminate') or SIGKILL ('kill'); the ones still alive after timeout_s."""
    import psutil

    for process in processes:
        try:
            getattr(process, how)()
        except psutil.Error:
            pass
    deadline = time.monotonic() + timeout_s
    while processes and time.monotonic() < deadline:
        time.sleep(0.05)
        processes = [p for p in processes if _alive(p)]
    return processes


def _alive(process) -> bool:
    """Running and not a zombie: a dead worker whose raylet is gone waits for init to reap it, harmlessly."""
    import psutil

    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
