"""A scenario's own devices (`profiles:`) and links (`links:`): built on a catalogue entry, validated, used by World."""
from __future__ import annotations

import numpy as np
import pytest
import yaml

from sim import catalogue
from sim import scenario as scenarios
from sim.policies import EDGE
from sim.world import World

WORKLOAD = {"kind": "poisson", "rate": "1/s", "deadline": "100ms"}


def _data(**changes) -> dict:
    data = {"name": "o", "seed": 1, "duration": "10min", "policy": {"name": "edge"},
            "fleet": [{"profile": "raspberry-pi-4", "count": 2, "link": "wifi", "workload": WORKLOAD}],
            "federation": {"enabled": False}}
    return {**data, **changes}


def _error(data: dict) -> str:
    with pytest.raises(scenarios.ScenarioError) as info:
        scenarios.parse(data, "o.yaml")
    return str(info.value)


def test_a_scenario_link_built_on_a_catalogue_link_carries_the_fleet_group():
    sc = scenarios.parse(_data(links={"rural-lte": {"base": "lte", "up_bps": 1.5e6, "rtt_s": 0.06}},
                               fleet=[{"profile": "smartphone", "count": 3, "link": "rural-lte",
                                       "workload": WORKLOAD}]))
    lte, link = catalogue.LINKS["lte"], sc.link_profile("rural-lte")
    assert (link.name, link.up_bps, link.rtt_s) == ("rural-lte", 1.5e6, 0.06)
    assert link.down_bps == lte.down_bps and link.tail_s == lte.tail_s and link.source == "scenario override of lte"
    world = World(sc)
    assert all(d.link == link for d in world.devices)
    up, down = world.topology.cells[0].up, world.topology.cells[0].down
    assert up.bytes_per_s == 1.5e6 / 8 and down.bytes_per_s == lte.down_bps / 8
    assert up.name == "smartphone/rural-lte/up"
    world.run()
    table = world.table()
    at_edge = table["propagation_s"][table["target"] == EDGE]
    assert len(at_edge) > 100 and at_edge == pytest.approx(np.full(len(at_edge), 0.06))


def test_overriding_a_catalogue_link_changes_only_this_scenario():
    sc = scenarios.parse(_data(links={"wifi": {"rtt_s": 0.02, "source": "measured in the lab"}}))
    assert sc.link_profile("wifi").rtt_s == 0.02 and sc.link_profile("wifi").source == "measured in the lab"
    assert sc.link_profile("lte") is catalogue.LINKS["lte"] and catalogue.LINKS["wifi"].rtt_s == 0.0037
    assert World(sc).devices[0].link.rtt_s == 0.02


def test_a_scenario_without_overrides_uses_the_catalogue_entries_themselves():
    sc = scenarios.parse(_data())
    assert sc.link_profile("wifi") is catalogue.LINKS["wifi"]
    assert sc.device_profile("raspberry-pi-4") is catalogue.DEVICES["raspberry-pi-4"]


@pytest.mark.parametrize("changes, message", [
    ({"links": {"sat": {"up_bps": 1e6}}},
     "o.yaml: links.sat: a new link needs `base: <catalogue link>`; catalogue: lte, wifi, 5g, nb-iot, lora"),
    ({"links": {"sat": {"base": "pigeon"}}}, "o.yaml: links.sat.base: unknown link 'pigeon'; allowed: lte,"),
    ({"links": {"wifi": {"speed": 1}}}, "o.yaml: links.wifi.speed: unknown key; allowed: base, up_bps, down_bps,"),
    ({"links": {"wifi": {"up_bps": 0}}}, "o.yaml: links.wifi.up_bps: must be > 0.0, got 0"),
    ({"links": {"wifi": {"tail_w": -1}}}, "o.yaml: links.wifi.tail_w: must be >= 0.0, got -1"),
    ({"profiles": {"pi": {"speed": 1}}}, "o.yaml: profiles.pi.speed: unknown key; allowed: base, lstm_flops_per_s,"),
    ({"profiles": {"pi": {"base": "smartphone", "battery": "0Wh"}}}, "o.yaml: profiles.pi.battery: must be > 0, got '0Wh'"),
    ({"profiles": {"pi": {"base": "smartphone", "battery": 5}}},
     "o.yaml: profiles.pi.battery: expected a"),  # the scenario's unit error, as for fleet[].battery
    ({"links": {"sat": {"base": "lte"}}, "fleet": [{"profile": "raspberry-pi-4", "count": 1, "link": "sat2",
                                                    "workload": WORKLOAD}]},
     "o.yaml: fleet[0].link: unknown link 'sat2'; allowed: lte, wifi, 5g, nb-iot, lora, sat"),
])
def test_bad_overrides_get_one_line_errors(changes, message):
    text = _error(_data(**changes))
    assert text.startswith(message), text
    assert "\n" not in text


def test_device_overrides_take_source_and_the_old_key_sources():
    for key in ("source", "sources"):
        sc = scenarios.parse(_data(profiles={"lab-pi": {"base": "raspberry-pi-4", key: "measured"}}))
        assert sc.device_profile("lab-pi").source == "measured"


def test_scenarios_with_links_round_trip_through_dump():
    sc = scenarios.parse(_data(links={"rural-lte": {"base": "lte", "up_bps": "1.5e6"}},
                               profiles={"lab-pi": {"base": "raspberry-pi-4", "battery": "10Wh"}}))
    again = scenarios.parse(yaml.safe_load(scenarios.dump(sc)))
    assert again == sc and again.link_profile("rural-lte").up_bps == 1.5e6
    assert again.device_profile("lab-pi").battery_j == 36000.0
