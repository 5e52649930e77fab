"""edgefed schema: a JSON Schema that the shipped scenarios satisfy, and a reference page that cannot go stale."""
from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from sim.app import cli
from sim.app.schema import REFERENCE_PAGE, reference_markdown, scenario_schema

ROOT = Path(__file__).resolve().parents[2]


class _Yaml12(yaml.SafeLoader):
    """Floats as YAML 1.2 (and editors) read them: PyYAML's 1.1 rules keep 1.0e9 a string, pydantic converts it."""


_Yaml12.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$"),
                              list("-+0123456789."))


def test_committed_reference_page_is_what_the_generator_gives():
    committed = (ROOT / REFERENCE_PAGE).read_text()
    assert committed == reference_markdown(), f"stale: run `edgefed schema --markdown > {REFERENCE_PAGE}`"


def test_schema_command_prints_the_schema_as_json():
    printed = json.loads(CliRunner().invoke(cli.app, ["schema"]).output)
    assert printed == json.loads(json.dumps(scenario_schema()))
    assert printed["required"] == ["name", "duration", "fleet"]
    assert printed["properties"]["duration"]["type"] == "string"  # '2h' as written, not the float it becomes
    assert printed["$defs"]["Federation"]["properties"]["every"]["default"] == "1800.0s"


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_scenario_satisfies_the_schema(path):
    data = yaml.load(path.read_text(), Loader=_Yaml12)
    if path.name.startswith("sweep"):
        pytest.skip("a sweep file, not a scenario")
    jsonschema.validate(data, scenario_schema())


def test_schema_rejects_what_the_loader_rejects():
    bad = {"name": "x", "duration": "1h", "fleet": [{"profile": "raspberry-pi-4", "count": 1, "speed": 3,
                                                      "workload": {"rate": "1/s", "deadline": "1s"}}]}
    with pytest.raises(jsonschema.ValidationError, match="speed"):
        jsonschema.validate(bad, scenario_schema())


def test_reference_page_lists_every_section_with_its_path():
    page = reference_markdown()
    for heading, path in (("FleetGroup", "`fleet[]`"), ("Workload", "`fleet[].workload`"),
                          ("DeviceOverride", "`profiles.<name>`"), ("Pretrain", "`federation.pretrain`")):
        assert f"## {heading}\n\n{path}" in page
    assert "| `round_deadline` | string | `\"600.0s\"` |" in page
