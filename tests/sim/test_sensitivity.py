"""Sensitivity: which constants are assumed, how a variant is built, rankings, bad input (no simulation here)."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sim import scenario as scenarios
from sim.app import sensitivity as s
from sim.app.cli import app
from sim.app.sensitivity_report import rankings
from sim.catalogue import DEVICES, LINKS

CATALOGUE = Path(s.__file__).resolve().parents[1] / "catalogue"
QUICKSTART = Path(__file__).resolve().parents[2] / "scenarios" / "quickstart.yaml"


def _entry_lines(section: str, entry: str) -> tuple[str, dict[str, str]]:
    """The catalogue's words about an entry: its `source`, and each field's YAML comment."""
    file = CATALOGUE / ("devices.yaml" if section == "devices" else "links.yaml" if section == "links" else
                        "servers.yaml")
    data = yaml.safe_load(file.read_text())
    block = data["servers"][entry] if section == "servers" else data["wan"] if section == "wan" else data[entry]
    lines = file.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"{entry}:")
    comments = {line.split(":")[0].strip(): line.split("#", 1)[1] for line in lines[start:start + len(block) + 1]
                if "#" in line}
    return block["source"], comments


def test_every_listed_constant_is_called_assumed_by_the_catalogue():
    for section, entry, field, why in s.ASSUMED:
        source, comments = _entry_lines(section, entry)
        # the server cores are marked on their own line ("cores: 8  # assumed"); the rest in the entry's source
        text = comments.get(field, "") if field == "cores" else source
        assert "assumed" in text, (section, entry, field)


def test_every_entry_the_catalogue_calls_assumed_is_listed():
    listed = {(section, entry) for section, entry, _, _ in s.ASSUMED}
    for section, entries in (("devices", DEVICES), ("links", LINKS)):
        for name, profile in entries.items():
            if "assumed" in profile.source:
                assert (section, name) in listed, name
    assert {("servers", "edge-server"), ("servers", "cloud"), ("wan", "wan")} <= listed


def test_quickstart_varies_the_assumed_constants_of_its_fleet_and_servers():
    constants = {c.path: c.value for c in s.assumed_constants(scenarios.load(QUICKSTART))}
    # its fleet: Pi 4 and gateways on WiFi, phones on LTE; no MCU, Jetson, 5G, NB-IoT or LoRa constants
    assert constants["profiles.raspberry-pi-4.lstm_flops_per_s"] == 1e9
    assert constants["profiles.iot-gateway.active_w"] == 3.0
    assert constants["links.wifi.tail_s"] == 0.24
    assert constants["edge.speed"] == 5e10 and constants["edge.cores"] == 8 and constants["cloud.wan_up"] == 1e8
    assert not [p for p in constants if "mcu" in p or "jetson" in p or "5g" in p or "nb-iot" in p or "lora" in p]
    assert len(constants) == 14


def test_a_value_the_scenario_sets_itself_is_not_assumed():
    data = yaml.safe_load(QUICKSTART.read_text())
    data["edge"]["speed"] = 1e10
    data["profiles"] = {"raspberry-pi-4": {"lstm_flops_per_s": 2e9}}
    paths = {c.path for c in s.assumed_constants(scenarios.parse(data, "x.yaml"))}
    assert "edge.speed" not in paths and "profiles.raspberry-pi-4.lstm_flops_per_s" not in paths
    assert "edge.cores" in paths and "profiles.smartphone.lstm_flops_per_s" in paths


@pytest.mark.parametrize("path, factor, read, expected", [
    ("profiles.raspberry-pi-4.active_w", 2, lambda v: v.device_profile("raspberry-pi-4").active_w, 12.8),
    ("profiles.smartphone.battery", 0.5, lambda v: v.device_profile("smartphone").battery_j, 27000.0),
    ("links.wifi.tail_s", 0.5, lambda v: v.link_profile("wifi").tail_s, 0.12),
    ("edge.cores", 0.5, lambda v: v.edge.cores, 4),
    ("edge.speed", 2, lambda v: v.edge.speed, 1e11),
    ("cloud.wan_rtt", 2, lambda v: v.cloud.wan_rtt, 0.08),
    ("fleet.0.count", 0.5, lambda v: v.fleet[0].count, 5),
])
def test_a_variant_is_the_scenario_with_one_override(path, factor, read, expected):
    base = scenarios.load(QUICKSTART)
    variant = s.varied(base, path, factor)
    assert math.isclose(read(variant), expected, rel_tol=1e-12)
    assert variant.name == f"quickstart~{path}~x{factor:g}"
    # nothing else changed: the other profiles and links resolve as before
    assert variant.device_profile("iot-gateway") == base.device_profile("iot-gateway")
    assert variant.link_profile("lte") == base.link_profile("lte")


def test_a_catalogue_variant_starts_from_the_baseline_pretraining(monkeypatch, tmp_path):
    from sim.app import runner

    base = scenarios.load(QUICKSTART)
    assert s._pretraining_free(s.varied(base, "edge.speed", 2)) == s._pretraining_free(base)
    assert s._pretraining_free(s.varied(base, "federation.pretrain.rounds", 2)) != s._pretraining_free(base)
    trained = []
    monkeypatch.setattr(runner, "pretrained", lambda scenario: trained.append(scenario) or len(trained))
    constants = s.named_constants(base, ["edge.speed", "links.wifi.tail_s", "federation.pretrain.rounds"])
    the_plan = s.plan(base, ["local", "edge", "greedy"], [1, 2], constants, [0.5, 2], tmp_path)
    pretrained = s.shared_pretraining(the_plan)
    for run in the_plan.runs:
        pretrained(run)
    # one pretraining per seed for the baseline and the catalogue variants, whatever the policy; the variants of
    # the pretraining's own settings train their own (2 factors x 3 policies x 2 seeds)
    assert len(trained) == 2 + 12
    assert sum(t.federation.pretrain.rounds == base.federation.pretrain.rounds for t in trained) == 2


@pytest.mark.parametrize("path, message", [
    ("profiles.pi4.cpu_power_w", "--vary profiles.pi4.cpu_power_w: unknown profile 'pi4'; allowed: mcu-cortex-m4,"),
    ("profiles.raspberry-pi-4.cpu_power_w", "unknown field 'cpu_power_w'; allowed: lstm_flops_per_s, cores,"),
    ("links.wlan.tail_s", "--vary links.wlan.tail_s: unknown link 'wlan'; allowed: lte, wifi,"),
    ("edge.sped", "--vary edge.sped: no field 'sped' in edge; allowed: cores, speed"),
    ("name", "--vary name: must name a number in the scenario, got 'quickstart'"),
    ("profiles.raspberry-pi-4.battery", "mains powered"),
])
def test_an_unknown_constant_is_a_one_line_error(path, message):
    with pytest.raises(s.SensitivityError) as info:
        s.named_constants(scenarios.load(QUICKSTART), [path])
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("text", ["0", "-1", "0.5,nan", "two", "inf"])
def test_a_factor_must_be_a_positive_number(text):
    with pytest.raises(s.SensitivityError, match="--factors: must be comma-separated numbers > 0"):
        s.parse_factors(text)
    assert s.parse_factors("0.5, 2,2") == [0.5, 2.0]


@pytest.mark.parametrize("args, message", [
    (["--vary", "profiles.pi4.cpu_power_w"], "error: --vary profiles.pi4.cpu_power_w: unknown profile 'pi4'"),
    (["--factors", "0"], "error: --factors: must be comma-separated numbers > 0, got '0'"),
    (["--factors", "0.5,-2"], "error: --factors: must be comma-separated numbers > 0, got '-2'"),
])
def test_the_command_refuses_bad_input_with_one_line_and_exit_2(tmp_path, args, message):
    result = CliRunner().invoke(app, ["sensitivity", str(QUICKSTART), "--policies", "local,edge",
                                      "--out", str(tmp_path / "out"), *args])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == message or result.output.strip().startswith(message), result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def _row(constant, factor, policy, value, baseline):
    return {"constant": constant, "factor": factor, "policy": policy, "metric": "latency_mean_s", "value": value,
            "ci": 0.0, "baseline": baseline, "delta": value - baseline}


def test_a_ranking_flip_is_detected_and_a_kept_order_is_not():
    rows = [_row("(baseline)", 1.0, "local", 9.0, 9.0), _row("(baseline)", 1.0, "edge", 12.0, 12.0),
            _row("edge.speed", 0.5, "local", 9.0, 9.0), _row("edge.speed", 0.5, "edge", 20.0, 12.0),
            _row("edge.speed", 4.0, "local", 9.0, 9.0), _row("edge.speed", 4.0, "edge", 6.0, 12.0)]
    flips = {(f["constant"], f["factor"]): f for f in rankings(rows)}
    assert flips[("edge.speed", 0.5)]["flipped"] is False
    assert flips[("edge.speed", 4.0)]["flipped"] is True
    assert flips[("edge.speed", 4.0)]["baseline_order"] == "local < edge"
    assert flips[("edge.speed", 4.0)]["order"] == "edge < local"
