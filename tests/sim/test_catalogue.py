"""The catalogue YAML files load into validated frozen dataclasses; bad entries get one-line errors."""
from __future__ import annotations

import dataclasses

import pytest

from sim import catalogue
from sim.catalogue import CatalogueError, DeviceProfile, LinkProfile, WanProfile, build


def _fields(profile) -> dict:
    return {f.name: getattr(profile, f.name) for f in dataclasses.fields(profile)}


def test_the_scenario_defaults_of_edge_and_cloud_are_the_catalogue_values():
    from sim.scenario import Cloud, EdgeServer

    edge, cloud = EdgeServer(), Cloud()
    assert (edge.cores, edge.speed) == (catalogue.EDGE_SERVER.cores, catalogue.EDGE_SERVER.core_flops_per_s)
    assert (cloud.cores, cloud.speed) == (catalogue.CLOUD.cores, catalogue.CLOUD.core_flops_per_s)
    assert (cloud.wan_up, cloud.wan_down, cloud.wan_rtt) == (catalogue.WAN.up_bps, catalogue.WAN.down_bps,
                                                             catalogue.WAN.rtt_s)


def test_profiles_are_frozen_and_every_entry_has_a_source():
    for profile in [*catalogue.DEVICES.values(), *catalogue.LINKS.values(), *catalogue.SERVERS.values(),
                    catalogue.WAN]:
        assert profile.source.strip(), profile.name
        with pytest.raises(dataclasses.FrozenInstanceError):
            profile.name = "x"


def test_no_entry_is_left_unverified_and_every_assumption_says_what_it_is():
    import re

    for profile in [*catalogue.DEVICES.values(), *catalogue.LINKS.values(), *catalogue.SERVERS.values(),
                    catalogue.WAN]:
        assert not re.search(r"\bcheck\b", profile.source, re.IGNORECASE), (profile.name, profile.source)
        # "assumed" must come with what was assumed, not stand alone as the whole source
        assert profile.source.strip().lower() not in ("assumed", "(assumed)"), profile.name
    for file in ("devices.yaml", "links.yaml", "servers.yaml"):  # comments beside numbers too
        for line in (catalogue.HERE / file).read_text().splitlines():
            if not line.lstrip().startswith("#"):
                assert "(check)" not in line, (file, line)


WAN_ENTRY = {"up_bps": 1.0e6, "down_bps": 2.0e6, "rtt_s": 0.01, "source": "assumed"}


def test_build_reads_yaml_1_1_exponents_and_coerces_to_the_declared_type():
    wan = build(WanProfile, "w", {**WAN_ENTRY, "up_bps": "1e6", "rtt_s": 1}, "f.yaml")
    assert wan.up_bps == 1e6 and isinstance(wan.rtt_s, float)
    entry = {**_fields(catalogue.DEVICES["raspberry-pi-4"]), "cores": 4.0}
    del entry["name"]
    pi = build(DeviceProfile, "pi", entry, "f.yaml")
    assert pi.cores == 4 and isinstance(pi.cores, int) and pi.battery_j is None


@pytest.mark.parametrize("change, message", [
    ({"up_bps": 0.0}, "f.yaml: w.up_bps: must be > 0, got 0.0"),
    ({"rtt_s": -1.0}, "f.yaml: w.rtt_s: must be >= 0, got -1.0"),
    ({"rtt_s": "fast"}, "f.yaml: w.rtt_s: must be a finite number, got 'fast'"),
    ({"rtt_s": float("nan")}, "f.yaml: w.rtt_s: must be a finite number"),
    ({"rtt_s": True}, "f.yaml: w.rtt_s: must be a finite number, got True"),
    ({"source": ""}, "f.yaml: w.source: must be a non-empty text"),
    ({"colour": "red"}, "f.yaml: w: unknown field 'colour'; fields: up_bps, down_bps, rtt_s, source"),
    ({"source": None}, "f.yaml: w.source: must be a non-empty text, got None"),
])
def test_bad_entries_get_one_line_errors(change, message):
    with pytest.raises(CatalogueError) as info:
        build(WanProfile, "w", {**WAN_ENTRY, **change}, "f.yaml")
    assert str(info.value).startswith(message), str(info.value)


def test_a_missing_field_and_a_fractional_core_count_are_rejected():
    entry = _fields(catalogue.LINKS["lte"])
    del entry["name"], entry["tail_w"]
    with pytest.raises(CatalogueError, match=r"l: field 'tail_w' is missing"):
        build(LinkProfile, "l", entry, "f.yaml")
    pi = {**_fields(catalogue.DEVICES["raspberry-pi-4"]), "cores": 2.5}
    with pytest.raises(CatalogueError, match=r"pi.cores: must be a whole number, got 2.5"):
        build(DeviceProfile, "pi", {k: v for k, v in pi.items() if k != "name"}, "f.yaml")


def test_sim_profiles_still_names_the_catalogue():
    from sim import profiles  # the module the catalogue used to be; other branches may still import it

    assert profiles.DEVICES is catalogue.DEVICES and profiles.LINKS is catalogue.LINKS
    assert profiles.EDGE_SERVER is catalogue.EDGE_SERVER and profiles.WAN is catalogue.WAN
