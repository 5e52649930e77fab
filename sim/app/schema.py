"""The scenario's JSON Schema (for editors' YAML language servers) and the reference page generated from it."""
from __future__ import annotations

import json
from typing import Any

REFERENCE_PAGE = "docs/scenario-reference.md"


def scenario_schema() -> dict:
    """Scenario.model_json_schema as a file holds it: serialization mode, so defaults read '600.0s', not 600.0
    (the validation mode would show the float a duration becomes)."""
    from sim.scenario import Scenario

    schema = Scenario.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "edgefed scenario"
    return schema


def schema_json() -> str:
    return json.dumps(scenario_schema(), indent=2, sort_keys=True) + "\n"


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _sections(schema: dict) -> list[tuple[str, str, dict]]:
    """(name, path in a scenario file, model schema), the top level first, then each model where first reached."""
    defs = schema.get("$defs", {})
    found, queue = [("Scenario", "(top level)", schema)], [("(top level)", schema)]
    seen = {"Scenario"}
    while queue:
        path, model = queue.pop(0)
        for key, prop in model.get("properties", {}).items():
            for ref, suffix in _refs(prop):
                name = _ref_name(ref)
                if name in seen:
                    continue
                seen.add(name)
                child = (key if path == "(top level)" else f"{path}.{key}") + suffix
                found.append((name, child, defs[name]))
                queue.append((child, defs[name]))
    return found


def _refs(prop: dict) -> list[tuple[str, str]]:
    """The models a property holds, with what a path to them adds: '' (itself), '[]' (a list item), '.<name>'."""
    if "$ref" in prop:
        return [(prop["$ref"], "")]
    out = []
    for option in prop.get("anyOf", []):
        out += _refs(option)
    if prop.get("type") == "array" and isinstance(prop.get("items"), dict):
        out += [(ref, "[]" + suffix) for ref, suffix in _refs(prop["items"])]
    if prop.get("type") == "object" and isinstance(prop.get("additionalProperties"), dict):
        out += [(ref, ".<name>" + suffix) for ref, suffix in _refs(prop["additionalProperties"])]
    return out


def _kind(prop: dict) -> str:
    if "$ref" in prop:
        name = _ref_name(prop["$ref"])
        return f"[{name}](#{name.lower()})"
    if "enum" in prop:
        return "one of " + ", ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    if "anyOf" in prop:
        return " or ".join(dict.fromkeys(_kind(option) for option in prop["anyOf"]))
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_kind(prop.get('items', {}))}"
    if kind == "object":
        values = prop.get("additionalProperties")
        return f"mapping of name to {_kind(values)}" if isinstance(values, dict) else "mapping"
    words = {"string": "string", "number": "number", "integer": "integer", "boolean": "true/false", "null": "none"}
    return words.get(kind, kind)


def _bounds(prop: dict) -> list[str]:
    found = []
    for option in [prop, *prop.get("anyOf", [])]:
        for key, op in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<"),
                        ("minItems", "items >=")):
            if key in option:
                found.append(f"{op} {option[key]}")
    return found


def _default(prop: dict) -> str:
    if "$ref" in prop:
        return "its defaults"  # the section below lists them
    if "default" not in prop:  # a default_factory: an empty mapping or list
        return {"object": "`{}`", "array": "`[]`"}.get(prop.get("type", ""), "")
    return f"`{json.dumps(prop['default'])}`"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def reference_markdown(schema: dict | None = None) -> str:
    """docs/scenario-reference.md: one table per section of a scenario file."""
    schema = schema or scenario_schema()
    lines = ["# Scenario reference", "",
             "Generated from the schema in `sim/scenario.py` by `edgefed schema --markdown > "
             f"{REFERENCE_PAGE}`; do not edit by hand (a test checks that this page is what the generator gives).",
             "Editors: `edgefed schema > scenario.schema.json` and point a YAML language server at it.",
             "Quantities are strings with a unit (`250ms`, `2h`, `20Mbps`, `12/min`, `15Wh`); defaults are shown in SI.",
             "Offload policies and their parameters: `edgefed policies`; device and link profiles: `edgefed profiles`."]
    for name, path, model in _sections(schema):
        required = set(model.get("required", []))
        lines += ["", f"## {name}", "", f"`{path}`" + (f": {_cell(model['description'])}" if model.get("description")
                                                       else ""), "",
                  "| key | type | default | notes |", "|---|---|---|---|"]
        for key, prop in model.get("properties", {}).items():
            default = "required" if key in required else _default(prop)
            notes = "; ".join(_bounds(prop) + ([prop["description"]] if prop.get("description") else []))
            lines.append(f"| `{key}` | {_cell(_kind(prop))} | {_cell(default)} | {_cell(notes)} |")
    return "\n".join(lines) + "\n"
