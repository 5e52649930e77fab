"""One formatter for the validation errors of the YAML files edgefed reads (scenarios and sweep files).

Every problem becomes one line, `file: field: message`, where the field is a path such as `fleet[0].link` and
the message says what is allowed, in the words a user writes (a mapping, a list, a number), not pydantic's.
"""
from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError

from sim.limits import shown

MAX_REPORTED = 20  # problems listed one a line; the rest are counted
# what a user writes, not pydantic's type names
KINDS = {"dict": "a mapping (name: value)", "list": "a list", "int": "an integer", "float": "a number",
         "bool": "true or false", "string": "a string", "str": "a string"}
# a union member's tag in an error location (params.V.float, seeds.list[int]): not part of the field's path
_UNION_TAG = re.compile(r"^(int|float|str|bool|list|dict|none)(\[.*\])?$")
_BOUNDS = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}


class FieldError(ValueError):
    """A validator's error that names its own field path (a check across fields reports the field at fault)."""

    def __init__(self, path: str, message: str):
        super().__init__(message)
        self.path = path


def field_path(loc: tuple) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            text = str(part)  # odd keys (line breaks, spaces) are quoted so the error stays on one line
            path += ("." if path else "") + (text if re.fullmatch(r"[\w.-]+", text) else shown(text))
    return path or "(top level)"


def allowed_keys(root: type[BaseModel], loc: tuple) -> list[str]:
    """The keys the model holding the last part of `loc` accepts (walked down from `root`)."""
    model: Any = root
    parts = list(loc[:-1])
    while parts:
        part = parts.pop(0)
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
        if getattr(annotation, "__origin__", None) is dict and parts:
            parts.pop(0)  # the entry's name, as in profiles.<name>.<field>
        inner = [a for a in getattr(annotation, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)]
        model = inner[0] if inner else annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
    return list(model.model_fields)


def describe(root: type[BaseModel], error: dict) -> tuple[str, str]:
    """(field path, message) of one pydantic error of a `root` document."""
    loc, kind, ctx, got = error["loc"], error["type"], error.get("ctx", {}), error.get("input")
    if loc[:2] == ("policy", "params") and len(loc) == 4:  # one line, not one per member of the value's union
        return field_path(loc[:3]), f"must be a finite number, a string or a boolean, got {shown(got)}"
    if kind == "extra_forbidden":
        return field_path(loc), f"unknown key; allowed: {', '.join(allowed_keys(root, loc))}"
    if kind == "missing":
        return field_path(loc), "required field is missing"
    if kind in _BOUNDS:
        return field_path(loc), f"must be {_BOUNDS[kind]} {next(iter(ctx.values()))}, got {shown(got)}"
    if kind == "finite_number":
        return field_path(loc), f"must be a finite number, got {shown(got)}"
    if kind == "literal_error":
        return field_path(loc), f"must be one of {ctx.get('expected')}, got {shown(got)}"
    if kind == "too_short":
        return field_path(loc), f"must have at least {ctx.get('min_length')} item(s), got {len(got or [])}"
    if kind == "value_error":
        cause = ctx.get("error")
        if isinstance(cause, FieldError):
            return cause.path, str(cause)
        return field_path(loc), str(cause)
    if kind in ("model_type", "model_attributes_type"):
        keys = allowed_keys(root, (*loc, ""))  # the keys of the model at loc
        wanted = f"a mapping with keys from: {', '.join(keys)}" if keys else "a mapping"
        return field_path(loc), f"must be {wanted}, got {shown(got)}"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        wanted = kind.split("_")[0]
        return field_path(loc), f"must be {KINDS.get(wanted, f'of type {wanted}')}, got {shown(got)}"
    return field_path(loc), error["msg"]


def _without_union_tags(error: dict) -> dict:
    """A type error of one member of a union, located at the union's field (so the members' errors merge)."""
    loc = list(error["loc"])
    if error["type"].endswith(("_type", "_parsing")):
        while loc and isinstance(loc[-1], str) and _UNION_TAG.match(loc[-1]):
            loc.pop()
    return {**error, "loc": tuple(loc)}


def describe_all(source: str, exc: ValidationError, root: type[BaseModel]) -> str:
    """Every problem of a `root` document read from `source`, one line each: `source: field: message`.

    The members of a union that all refused a value make one line (`must be a list or an integer, got ...`);
    past MAX_REPORTED lines the rest are counted (20,000 bad fleet entries are one mistake, not 20,000 lines).
    """
    by_path: dict[str, list[str]] = {}
    for error in exc.errors():
        raw_loc = error["loc"]
        path, message = describe(root, error if raw_loc[:2] == ("policy", "params") else _without_union_tags(error))
        messages = by_path.setdefault(path, [])
        if message not in messages:
            messages.append(message)
    lines = [f"{source}: {path}: {_joined(messages)}" for path, messages in by_path.items()]
    if len(lines) > MAX_REPORTED:
        lines[MAX_REPORTED:] = [f"{source}: (top level): and {len(lines) - MAX_REPORTED:,} more problems"]
    return "\n".join(lines)


def _joined(messages: list[str]) -> str:
    """Union members' 'must be X, got V' messages as one 'must be X or Y, got V'; other messages side by side."""
    wanted = [m.removeprefix("must be ").rsplit(", got ", 1) for m in messages]
    if len(messages) > 1 and all(m.startswith("must be ") and len(w) == 2 for m, w in zip(messages, wanted)) \
            and len({w[1] for w in wanted}) == 1:
        return f"must be {' or '.join(w[0] for w in wanted)}, got {wanted[0][1]}"
    return "; ".join(messages)
