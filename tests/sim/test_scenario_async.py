"""Schema errors of `federation.mode`, staleness and availability: one line naming the field and what is allowed."""
from __future__ import annotations

import pytest

from sim import scenario as scenarios


def _scenario(**federation):
    return {"name": "a", "duration": "1h", "policy": {"name": "local"},
            "fleet": [{"profile": "raspberry-pi-4", "count": 3, "link": "wifi",
                       "workload": {"kind": "poisson", "rate": "1/min", "deadline": "1s"}}],
            "federation": {"pretrain": {"rounds": 0}, **federation}}


def _error(**federation) -> str:
    with pytest.raises(scenarios.ScenarioError) as caught:
        scenarios.parse(_scenario(**federation), "s.yaml")
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("federation, expected", [
    ({"mode": "fedsync"}, "s.yaml: federation.mode: must be one of 'sync', 'fedbuff' or 'fedasync', got 'fedsync'"),
    ({"mode": "fedbuff"}, "s.yaml: federation.buffer_size: fedbuff needs buffer_size (updates per aggregation)"),
    ({"mode": "fedasync", "buffer_size": 3},
     "s.yaml: federation.buffer_size: fedasync aggregates every update (buffer of one), got 3"),
    ({"buffer_size": 3}, "s.yaml: federation.buffer_size: applies to mode fedbuff or fedasync; mode is sync"),
    ({"staleness": {"kind": "hinge"}}, "s.yaml: federation.staleness: applies to mode fedbuff or fedasync; mode is sync"),
    ({"mode": "fedasync", "strategy": "fedadam"},
     "s.yaml: federation.strategy: mode fedasync allows only fedavg, got 'fedadam'"),
    ({"mode": "fedasync", "staleness": {"kind": "polynomial", "b": 2}},
     "s.yaml: federation.staleness: `b:` does not belong to kind polynomial; it takes a"),
    ({"mode": "fedasync", "staleness": {"kind": "exponential"}},
     "s.yaml: federation.staleness.kind: must be one of 'constant', 'polynomial' or 'hinge', got 'exponential'"),
    ({"availability": {"kind": "diurnal", "from_hour": 25}},
     "s.yaml: federation.availability.from_hour: must be < 24.0, got 25"),
    ({"availability": {"kind": "diurnal", "from_hour": 6, "to_hour": 6}},
     "s.yaml: federation.availability: from_hour and to_hour must differ (use kind: always for all day)"),
    ({"availability": {"kind": "trace"}}, "s.yaml: federation.availability: trace needs `file:` (CSV device,start_s,end_s)"),
    ({"availability": {"kind": "always", "file": "x.csv"}},
     "s.yaml: federation.availability: `file:` does not belong to kind always; it takes nothing"),
])
def test_a_bad_setting_is_one_line_naming_the_field(federation, expected):
    assert _error(**federation) == expected


def test_a_trace_device_outside_the_fleet_is_named(tmp_path):
    trace = tmp_path / "avail.csv"
    trace.write_text("device,start_s,end_s\n0,0,10\n3,5,9\n")
    assert _error(availability={"kind": "trace", "file": str(trace)}) == \
        "s.yaml: federation.availability.file: device 3 in the trace; the fleet has devices 0..2"
    trace.write_text("device,start_s,end_s\n0,10,5\n")
    assert "row 1 (line 2): needs 0 <= start_s < end_s" in _error(availability={"kind": "trace", "file": str(trace)})


def test_a_trace_file_is_found_relative_to_the_scenario_file(tmp_path):
    (tmp_path / "avail.csv").write_text("device,start_s,end_s\n0,0,10\n")
    import yaml

    (tmp_path / "s.yaml").write_text(yaml.safe_dump(_scenario(availability={"kind": "trace", "file": "avail.csv"})))
    loaded = scenarios.load(tmp_path / "s.yaml")
    assert loaded.federation.availability.file == str((tmp_path / "avail.csv").resolve())


def test_defaults_leave_the_resolved_scenario_as_it_was():
    dumped = scenarios.dump(scenarios.parse(_scenario(), "s.yaml"))
    for key in ("mode", "buffer_size", "concurrency", "staleness", "server_step", "availability"):
        assert f"{key}:" not in dumped
    async_one = scenarios.parse(_scenario(mode="fedbuff", buffer_size=2, staleness={"kind": "hinge", "a": 2}), "s.yaml")
    assert scenarios.parse(yaml_round_trip(async_one), "s.yaml") == async_one


def yaml_round_trip(scenario):
    import yaml

    return yaml.safe_load(scenarios.dump(scenario))
