"""Ctrl-C: every run stops within seconds with one 'interrupted' line, exit 130, no Ray process, no run directory."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer

from sim.app import cli, interrupts

psutil = pytest.importorskip("psutil")

ROOT = Path(__file__).resolve().parents[2]
MESSAGE = "interrupted: no run directory was written for the unfinished run"


def _session(sid: int) -> list:
    """The live processes of session `sid` (zombies are dead, only not yet reaped by init)."""
    found = []
    for process in psutil.process_iter(["name", "status"]):
        try:
            if os.getsid(process.pid) == sid and process.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(process)
        except (OSError, psutil.Error):
            pass
    return found


def _wait_for(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def _kill_session(proc: subprocess.Popen) -> None:
    for process in _session(proc.pid):
        try:
            process.kill()
        except psutil.Error:
            pass
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


def _interrupt_federated_run(tmp_path: Path, to_group: bool) -> None:
    """Start the quickstart (about 45 s through Flower), SIGINT it once Flower's actors run, check what is left."""
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.app.cli", "run", str(ROOT / "scenarios/quickstart.yaml"), "--out", str(out),
         "--no-plots", "--backend", "ray"],  # the quickstart would run in process: this checks Ray's clean-up
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}, "FLWR_TELEMETRY_ENABLED": "0"},  # local Ray
        # a test runner started in the background inherits SIGINT ignored, and Python keeps ignoring it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        actors = lambda: any(p.info["name"].startswith("ray::ClientAppActor") for p in _session(proc.pid))
        assert _wait_for(actors, 60), "Flower's Ray actors never started"
        os.killpg(proc.pid, signal.SIGINT) if to_group else proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        _, stderr = proc.communicate(timeout=10)
        print(f"exited in {time.monotonic() - started:.1f} s")
        assert proc.returncode == 130, stderr
        assert stderr.strip().splitlines()[-1] == MESSAGE
        assert "Traceback" not in stderr and "ERROR" not in stderr, stderr
        assert _wait_for(lambda: not _session(proc.pid), 2), [p.info["name"] for p in _session(proc.pid)]
        assert not out.exists() and not list(tmp_path.glob(".run.*")), list(tmp_path.iterdir())
    finally:
        _kill_session(proc)


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_ctrl_c_on_a_federated_run_stops_it_and_its_ray_processes(tmp_path):
    """What a terminal's Ctrl-C does: SIGINT to the whole process group, Ray's processes included."""
    _interrupt_federated_run(tmp_path, to_group=True)


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_sigint_to_the_driver_alone_stops_its_ray_processes_too(tmp_path):
    _interrupt_federated_run(tmp_path, to_group=False)


def _main(monkeypatch, *args: str) -> int:
    monkeypatch.setattr(interrupts, "_interrupted", False)  # else main() would end this process with os._exit
    monkeypatch.setattr(sys, "argv", ["edgefed", *args])
    with pytest.raises(SystemExit) as done:
        cli.main()
    return done.value.code


def test_keyboard_interrupt_in_a_command_exits_130_with_one_line(monkeypatch, tmp_path, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("sim.app.runner.run_scenario", interrupted)
    code = _main(monkeypatch, "run", str(ROOT / "scenarios/quickstart.yaml"), "--out", str(tmp_path / "run"))
    assert code == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == MESSAGE
    assert not list(tmp_path.iterdir())


def test_a_command_that_reports_its_own_interruption_gets_no_second_line(monkeypatch, capsys):
    def sweep_command(**kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            print("interrupted: the sweep's own words", file=sys.stderr)
            raise typer.Exit(130)

    monkeypatch.setattr("sim.app.sweep.sweep_command", sweep_command)
    assert _main(monkeypatch, "sweep", "any.yaml") == 130
    assert capsys.readouterr().err.strip().splitlines() == ["interrupted: the sweep's own words"]


def test_stop_ray_on_interrupt_ends_the_processes_the_block_started(monkeypatch):
    monkeypatch.setattr(interrupts, "_interrupted", False)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # (ignored under a background runner)
    child = None
    try:
        with pytest.raises(KeyboardInterrupt):
            with interrupts.stop_ray_on_interrupt():
                assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
                # stands in for a Ray worker that ignores SIGINT
                child = subprocess.Popen([sys.executable, "-c", "import signal, time; "
                                          "signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(60)"])
                time.sleep(0.5)
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)  # the handler raises at once
        assert child.wait(5) == -signal.SIGTERM
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # ours is gone after the block
        assert interrupts._interrupted
    finally:
        signal.signal(signal.SIGINT, previous)
        if child is not None and child.poll() is None:
            child.kill()
