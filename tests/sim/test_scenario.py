"""The scenario loader accepts good files and rejects bad ones with one-line errors naming file and field."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sim import scenario as scenarios
from sim import units

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"


def _base() -> dict:
    return yaml.safe_load(QUICKSTART.read_text())


def _write(tmp_path: Path, data) -> Path:
    path = tmp_path / "x.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def _error(path: Path) -> str:
    with pytest.raises(scenarios.ScenarioError) as info:
        scenarios.load(path)
    return str(info.value)


def test_units_parse_natural_strings():
    assert units.duration_s("250ms") == pytest.approx(0.25)
    assert units.duration_s("15min") == 900.0
    assert units.duration_s("24h") == 86400.0
    assert units.bitrate_bps("50Mbps") == 50e6
    assert units.event_rate_per_s("2/min") == pytest.approx(1 / 30)
    assert units.energy_j("15Wh") == 54000.0


def test_quickstart_loads_and_round_trips(tmp_path):
    loaded = scenarios.load(QUICKSTART)
    assert loaded.device_count == 20 and len({g.profile for g in loaded.fleet}) == 3
    assert loaded.duration == 7200.0 and loaded.fleet[1].workload.rate == pytest.approx(0.2)
    again = scenarios.load(_write(tmp_path, scenarios.dump(loaded)))
    assert again == loaded


def _mutate(change):
    data = _base()
    change(data)
    return data


BAD = {
    "unknown key": (lambda d: d.update(colour="red"), "colour: unknown key; allowed: name,"),
    "nested unknown key": (lambda d: d["fleet"][0].update(speed=3), "fleet[0].speed: unknown key; allowed: profile,"),
    "zero count": (lambda d: d["fleet"][1].update(count=0), "fleet[1].count: must be >= 1, got 0"),
    "negative count": (lambda d: d["fleet"][0].update(count=-3), "fleet[0].count: must be >= 1, got -3"),
    "bad unit": (lambda d: d.update(duration="3 parsecs"), "duration: expected a duration such as '250ms'"),
    "bare number": (lambda d: d["fleet"][0]["workload"].update(deadline=5), "fleet[0].workload.deadline: expected a duration with a unit"),
    "unknown policy": (lambda d: d.update(policy={"name": "telepathy"}), "policy.name: unknown policy 'telepathy'; allowed: battery-threshold, cloud, deadline-energy, edge,"),
    "unknown profile": (lambda d: d["fleet"][2].update(profile="cray-1"), "fleet[2].profile: unknown profile 'cray-1'; allowed: mcu-cortex-m4,"),
    "unknown link": (lambda d: d["fleet"][2].update(link="smoke-signals"), "fleet[2].link: unknown link 'smoke-signals'; allowed: lte,"),
    "wrong type": (lambda d: d["federation"].update(rounds="many"), "federation.rounds: must be an integer, got 'many'"),
    "list for a section": (lambda d: d.update(edge=[8, 64]), "edge: must be a mapping with keys from: cores, speed, got [8, 64]"),
    "number for a fleet entry": (lambda d: d["fleet"].__setitem__(0, 3), "fleet[0]: must be a mapping with keys from: profile, count, link, workload,"),
    "list for profiles": (lambda d: d.update(profiles=["pi"]), "profiles: must be a mapping (name: value), got ['pi']"),
    "bad key in a profile": (lambda d: d.update(profiles={"raspberry-pi-4": {"speed": 2}}), "profiles.raspberry-pi-4.speed: unknown key; allowed: base, lstm_flops_per_s, cores, idle_w, active_w, ram_bytes, battery, source"),
    "bad key in a link": (lambda d: d.update(links={"wifi": {"speed": 2}}), "links.wifi.speed: unknown key; allowed: base, up_bps, down_bps, rtt_s,"),
    "word for a switch": (lambda d: d["federation"].update(enabled="maybe"), "federation.enabled: must be true or false, got 'maybe'"),
    "duration zero": (lambda d: d.update(duration="0s"), "duration: must be > 0, got '0s'"),
    "empty fleet": (lambda d: d.update(fleet=[]), "fleet: must have at least 1 item(s), got 0"),
    "missing field": (lambda d: d.pop("duration"), "duration: required field is missing"),
    "bad cell": (lambda d: d["models"]["edge"].update(cell="transformer"), "models.edge.cell: must be one of 'lstm' or 'gru', got 'transformer'"),
    "date out of range": (lambda d: d["data"].update(start="2020-01-01"), "data.start: must be between 2012-11-01 and 2013-12-31"),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_scenarios_get_one_line_errors(tmp_path, kind):
    change, expected = BAD[kind]
    path = _write(tmp_path, _mutate(change))
    message = _error(path)
    assert message.startswith(f"{path}: ")
    assert expected in message, message
    assert "\n" not in message


@pytest.mark.parametrize("text, expected", [
    ("", "(top level): must be a mapping of scenario fields, got an empty file"),
    ("name: [unclosed\n", "YAML syntax error at line 2"),
    ("- just\n- a list\n", "(top level): must be a mapping of scenario fields, got list"),
])
def test_unusable_files(tmp_path, text, expected):
    path = _write(tmp_path, text)
    assert expected in _error(path)


def test_missing_file(tmp_path):
    assert _error(tmp_path / "nope.yaml") == f"{tmp_path / 'nope.yaml'}: file not found"


def test_cli_validate_exit_codes(tmp_path):
    bad = _write(tmp_path, _mutate(lambda d: d["fleet"][1].update(count=0)))
    cli = [sys.executable, "-m", "sim.app.cli", "validate"]
    failed = subprocess.run(cli + [str(bad)], capture_output=True, text=True, cwd=ROOT)
    assert failed.returncode == 2
    assert failed.stderr.strip() == f"error: {bad}: fleet[1].count: must be >= 1, got 0"
    assert "Traceback" not in failed.stderr + failed.stdout
    good = subprocess.run(cli + [str(QUICKSTART)], capture_output=True, text=True, cwd=ROOT)
    assert good.returncode == 0 and "20 devices" in good.stdout


def test_cli_unknown_policy_override(tmp_path):
    cli = [sys.executable, "-m", "sim.app.cli", "run", str(QUICKSTART), "--policy", "nope", "--out", str(tmp_path / "r")]
    failed = subprocess.run(cli, capture_output=True, text=True, cwd=ROOT)
    assert failed.returncode == 2 and "policy.name: unknown policy 'nope'" in failed.stderr
    assert "Traceback" not in failed.stderr and not (tmp_path / "r").exists()


def test_cli_profiles_lists_catalogue_with_sources():
    done = subprocess.run([sys.executable, "-m", "sim.app.cli", "profiles"], capture_output=True, text=True, cwd=ROOT,
                          env={**__import__("os").environ, "COLUMNS": "250"})
    assert done.returncode == 0
    for name in ("mcu-cortex-m4", "raspberry-pi-4", "jetson-nano", "jetson-orin-nano", "smartphone", "iot-gateway",
                 "lte", "wifi", "5g", "nb-iot", "Huang et al", "edge-server", "cloud", "wan", "LEAF example settings",
                 "Charyyev"):
        assert name in done.stdout, name


def test_a_projection_must_be_narrower_than_the_hidden_state_and_only_on_an_lstm():
    from sim.scenario import ScenarioError, parse

    base = {"name": "t", "duration": "1h", "federation": {"enabled": False, "pretrain": {"rounds": 0}},
            "fleet": [{"profile": "raspberry-pi-4", "count": 1, "workload": {"rate": "0.1/s", "deadline": "1s"}}]}
    with pytest.raises(ScenarioError, match=r"^s.yaml: models.edge: proj_size must be < hidden \(16\), got 16$"):
        parse({**base, "models": {"edge": {"hidden": 16, "proj_size": 16}}}, "s.yaml")
    with pytest.raises(ScenarioError, match=r"^s.yaml: models.edge: proj_size needs cell 'lstm'"):
        parse({**base, "models": {"edge": {"cell": "gru", "hidden": 16, "proj_size": 4}}}, "s.yaml")
    spec = parse({**base, "models": {"edge": {"hidden": 64, "proj_size": 16}}}, "s.yaml").models.edge.spec
    assert (spec.hidden, spec.proj_size) == (64, 16)
