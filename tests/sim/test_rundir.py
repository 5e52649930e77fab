"""Run directories: only a run directory is ever replaced, names never leave runs/, an interrupted writer's leftovers
are cleaned up (or its previous run recovered), and an unwritable place fails before the simulation."""
from __future__ import annotations

import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from hypothesis import given, strategies as st
from typer.testing import CliRunner

from sim.app import cli, runner
from sim.app.output import MARKER, RunDirError, atomic_directory, prepare_run_directory, run_dir_name

ROOT = Path(__file__).resolve().parents[2]
TINY = {
    "name": "tiny", "seed": 0, "duration": "10s", "policy": {"name": "local"},
    "fleet": [{"profile": "raspberry-pi-4", "count": 1, "link": "wifi",
               "workload": {"kind": "poisson", "rate": "1/s", "deadline": "1s"}}],
    "models": {"edge": {"hidden": 8, "layers": 1, "window": 24}},
    "federation": {"enabled": False, "pretrain": {"rounds": 0}},
}


def _scenario(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({**TINY, **changes}))
    return path


def _cli(*args: str):
    return CliRunner().invoke(cli.app, [str(a) for a in args])


def _user_dir(tmp_path: Path) -> Path:
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "chapter1.tex").write_text("months of work")
    return mine


def _run_dir(path: Path, content: str = "old") -> Path:
    path.mkdir(parents=True)
    (path / MARKER).write_text("")
    (path / "summary.json").write_text(content)
    return path


@pytest.fixture
def no_simulation(monkeypatch):
    """Whatever is refused must be refused before the simulation starts."""
    def simulate(*args, **kwargs):
        raise AssertionError("simulated although the output directory was refused")

    monkeypatch.setattr(runner, "run_scenario", simulate)


# --- 1. only a run directory is replaced --------------------------------------------------------------

def test_atomic_directory_refuses_a_directory_that_is_not_a_run(tmp_path):
    mine = _user_dir(tmp_path)
    with pytest.raises(RunDirError, match="not an edgefed run directory"):
        with atomic_directory(mine):
            pytest.fail("a staging directory was handed out for a user's directory")
    assert [p.name for p in mine.iterdir()] == ["chapter1.tex"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis"]  # no staging, no lock left


def test_atomic_directory_refuses_a_file(tmp_path):
    (tmp_path / "notes.txt").write_text("keep")
    with pytest.raises(RunDirError, match="a file is there"):
        with atomic_directory(tmp_path / "notes.txt"):
            pass
    assert (tmp_path / "notes.txt").read_text() == "keep"


@pytest.mark.parametrize("kind", ["empty", "marked", "legacy"])
def test_an_empty_or_run_directory_is_replaced_and_marked(tmp_path, kind):
    final = tmp_path / "run"
    if kind == "marked":
        _run_dir(final)
    else:
        final.mkdir()
    if kind == "legacy":  # written before the marker existed
        (final / "scenario.yaml").write_text("old")
        (final / "summary.json").write_text("old")
    with atomic_directory(final) as staging:
        (staging / "summary.json").write_text("new")
    assert (final / "summary.json").read_text() == "new" and (final / MARKER).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_failed_write_leaves_the_previous_run(tmp_path):
    final = _run_dir(tmp_path / "run")
    with pytest.raises(KeyError):
        with atomic_directory(final) as staging:
            (staging / "summary.json").write_text("half")
            raise KeyError("killed")
    assert (final / "summary.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_run_refuses_an_out_that_is_not_a_run_directory(tmp_path, no_simulation):
    mine = _user_dir(tmp_path)
    result = _cli("run", _scenario(tmp_path), "--out", mine, "--no-plots")
    assert result.exit_code == 2, result.output
    assert result.stderr == (f"error: {mine}: not an edgefed run directory, and not empty: refusing to replace its "
                             "files (choose another directory, or empty it)\n")
    assert [p.name for p in mine.iterdir()] == ["chapter1.tex"]


def test_run_into_an_earlier_run_replaces_it(tmp_path):
    out = tmp_path / "out"
    assert _cli("run", _scenario(tmp_path), "--out", out, "--no-plots").exit_code == 0
    first = (out / "summary.json").read_text()
    result = _cli("run", _scenario(tmp_path, seed=1), "--out", out, "--no-plots")
    assert result.exit_code == 0, result.output
    assert (out / "summary.json").read_text() != first and (out / MARKER).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "tiny.yaml"]


# --- 2. the scenario name is a slug, never a path -------------------------------------------------------

@pytest.mark.parametrize("name, slug", [
    ("quickstart", "quickstart"), ("smart-grid-fl", "smart-grid-fl"), ("../../../x", "x"), ("/etc/x", "etc-x"),
    ("a\x00b", "a-b"), ("..", "run"), (".", "run"), ("", "run"), ("  ", "run"), (".hidden", "hidden"),
    ("Café Münster", "cafe-munster"), ("电网", "run"), ("v1.2_final", "v1.2_final"), ("x" * 300, "x" * 80),
])
def test_run_dir_name(name, slug):
    assert run_dir_name(name) == slug


@given(st.text())
def test_run_dir_name_is_always_one_safe_component(name):
    slug = run_dir_name(name)
    assert re.fullmatch(r"[a-z0-9_]([a-z0-9._-]{0,78}[a-z0-9_])?", slug), slug


@pytest.mark.parametrize("name, expected", [("../../../x", "x"), ("a\x00b", "a-b"), ("", "run"), ("Ünï", "uni")])
def test_default_run_directory_stays_in_runs(tmp_path, monkeypatch, name, expected):
    cwd = tmp_path / "a" / "b" / "c"  # deep enough that ../../../ from runs/ stays inside tmp_path
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    result = _cli("run", _scenario(tmp_path, name=name), "--no-plots")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (cwd / "runs").iterdir()) == [f"{expected}-seed0"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "tiny.yaml"]
    assert sorted(p.name for p in cwd.iterdir()) == ["runs"]


def test_an_absolute_name_stays_in_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    outside = tmp_path / "elsewhere" / "x"
    result = _cli("run", _scenario(tmp_path, name=str(outside)), "--no-plots")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "elsewhere").exists()
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [f"{run_dir_name(str(outside))}-seed0"]


def test_compare_default_directory_is_a_slug(tmp_path, monkeypatch):
    cwd = tmp_path / "a" / "b"
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    result = _cli("compare", _scenario(tmp_path, name="../../x"), "--policies", "local", "--seeds", "1")
    assert result.exit_code == 0, result.output
    assert [p.name for p in (cwd / "runs").iterdir()] == ["x-compare"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "tiny.yaml"]


# --- 3. an interrupted writer's leftovers ---------------------------------------------------------------

def test_stale_staging_directories_are_removed(tmp_path):
    final = _run_dir(tmp_path / "x")
    stale = tmp_path / ".x.tmp-abc12345"
    stale.mkdir()
    (stale / "summary.json").write_text("half")
    others = [tmp_path / ".y.tmp-abc12345", tmp_path / ".x.tmp-a.tmp-abc12345"]  # runs y's and x.tmp-a's
    for other in others:
        other.mkdir()
    notes = prepare_run_directory(final)
    assert notes == [f"removed 1 unfinished run directory left by an interrupted run: {stale}"]
    assert not stale.exists() and all(o.exists() for o in others) and (final / "summary.json").read_text() == "old"
    assert prepare_run_directory(final) == []


def test_a_previous_run_left_aside_is_recovered(tmp_path):
    final = tmp_path / "x"
    _run_dir(tmp_path / ".x.old-abc12345" / "run", "previous")  # killed between the two renames
    notes = prepare_run_directory(final)
    assert notes == [f"recovered {final} from an interrupted replacement"]
    assert (final / "summary.json").read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]


def test_a_half_deleted_previous_run_is_not_recovered(tmp_path):
    final = tmp_path / "x"
    _run_dir(tmp_path / ".x.old-abc12345" / "replaced")  # killed while deleting a replaced run
    (tmp_path / ".x.old-def45678" / "run").mkdir(parents=True)  # its files already deleted
    notes = prepare_run_directory(final)
    assert notes == [f"removed 2 previous runs an interrupted replacement left behind: "
                     f"{tmp_path / '.x.old-abc12345'}, {tmp_path / '.x.old-def45678'}"]
    assert list(tmp_path.iterdir()) == []


def test_run_reports_what_it_cleaned_up(tmp_path):
    out = tmp_path / "out"
    _run_dir(tmp_path / ".out.old-abc12345" / "run", "previous")
    (tmp_path / ".out.tmp-def45678").mkdir()
    result = _cli("run", _scenario(tmp_path), "--out", out, "--no-plots")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"note: recovered {out} from an interrupted replacement",
        f"note: removed 1 unfinished run directory left by an interrupted run: {tmp_path / '.out.tmp-def45678'}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "tiny.yaml"]
    assert (out / "summary.json").read_text() != "previous"


def test_a_writer_killed_while_staging_is_cleaned_up_by_the_next(tmp_path):
    final = _run_dir(tmp_path / "x")
    killed = ("import os, sys; from sim.app.output import atomic_directory\n"
              "with atomic_directory(sys.argv[1]) as staging:\n"
              "    (staging / 'summary.json').write_text('half')\n"
              "    os._exit(9)  # no clean-up runs, as after SIGKILL\n")
    subprocess.run([sys.executable, "-c", killed, str(final)], cwd=ROOT, check=False)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left[0] == ".x.lock" and left[1].startswith(".x.tmp-") and left[2:] == ["x"]
    notes = prepare_run_directory(final)
    assert len(notes) == 1 and notes[0].startswith("removed 1 unfinished run directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"] and (final / "summary.json").read_text() == "old"


def test_a_concurrent_writers_staging_directory_is_kept(tmp_path):
    final = tmp_path / "x"
    staged, release = threading.Event(), threading.Event()

    def slow_writer():
        with atomic_directory(final) as staging:
            (staging / "summary.json").write_text("first")
            staged.set()
            release.wait(10)

    first = threading.Thread(target=slow_writer)
    first.start()
    assert staged.wait(10)
    staging = next(tmp_path.glob(".x.tmp-*"))
    second_notes: list[list[str]] = []
    second = threading.Thread(target=lambda: second_notes.append(prepare_run_directory(final)))
    second.start()
    second.join(0.3)
    assert second.is_alive() and staging.exists()  # waits for the first writer instead of deleting its files
    release.set()
    first.join(10)
    second.join(10)
    assert second_notes == [[]] and (final / "summary.json").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]


# --- 4. an unwritable place fails before the simulation -------------------------------------------------

def _unwritable(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "a-file").write_text("")
    return {"proc": Path("/proc/edgefed-x"), "under-a-file": tmp_path / "a-file" / "x",
            "name-too-long": tmp_path / ("n" * 256), "staging-name-too-long": tmp_path / ("n" * 245)}


@pytest.mark.parametrize("case", ["proc", "under-a-file", "name-too-long", "staging-name-too-long"])
def test_prepare_fails_on_an_unwritable_place(tmp_path, case):
    target = _unwritable(tmp_path)[case]
    with pytest.raises(OSError):
        prepare_run_directory(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


@pytest.mark.parametrize("case, reason", [("proc", "No such file or directory"), ("under-a-file", "Not a directory"),
                                          ("name-too-long", "File name too long")])
def test_run_checks_out_before_simulating(tmp_path, no_simulation, case, reason):
    target = _unwritable(tmp_path)[case]
    result = _cli("run", _scenario(tmp_path), "--out", target, "--no-plots")
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: {target}: cannot write the run directory: {reason}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "tiny.yaml"]


def test_compare_checks_its_run_directories_before_simulating(tmp_path, no_simulation):
    mine = tmp_path / "cmp" / "runs" / "local-seed0"
    mine.mkdir(parents=True)
    (mine / "chapter1.tex").write_text("months of work")
    result = _cli("compare", _scenario(tmp_path), "--policies", "local", "--seeds", "1", "--out", tmp_path / "cmp")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {mine}: not an edgefed run directory")
    assert [p.name for p in mine.iterdir()] == ["chapter1.tex"]


# --- 5. a file-system error is one line -----------------------------------------------------------------

def test_validate_of_a_path_under_a_file_is_one_line(tmp_path):
    (tmp_path / "a-file").write_text("")
    result = _cli("validate", tmp_path / "a-file" / "s.yaml")
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: {tmp_path / 'a-file' / 's.yaml'}: Not a directory\n"


def test_validate_of_a_too_long_name_is_one_line(tmp_path):
    path = tmp_path / ("s" * 300)
    result = _cli("validate", path)
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: {path}: File name too long\n"


def test_a_write_error_after_the_simulation_is_one_line(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "out" / "x"))

    monkeypatch.setattr(runner, "write_run", fail)
    result = _cli("run", _scenario(tmp_path), "--out", tmp_path / "out", "--no-plots")
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: {tmp_path / 'out'}: cannot write the run directory: Permission denied\n"
