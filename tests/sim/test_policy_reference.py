"""docs/policy-reference.md is what `edgefed policies --markdown` prints: a page that cannot go stale."""
from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

from typer.testing import CliRunner

from sim.app import cli
from sim.app.policy_reference import POLICY_PAGE, policy_markdown
from sim.policies.registry import builtin

registry_module = importlib.import_module("sim.policies.registry")  # the package exports a function of that name

ROOT = Path(__file__).resolve().parents[2]


def test_committed_policy_page_is_what_the_generator_gives():
    committed = (ROOT / POLICY_PAGE).read_text()
    assert committed == policy_markdown(), f"stale: run `edgefed policies --markdown > {POLICY_PAGE}`"


def test_the_command_prints_the_page():
    shown = CliRunner().invoke(cli.app, ["policies", "--markdown"])
    assert shown.exit_code == 0 and shown.output == policy_markdown()


def test_every_builtin_policy_has_its_section_rule_and_parameters():
    page = policy_markdown()
    for entry in builtin().values():
        assert f"## `{entry.name}`\n\n{entry.rule}\n" in page
        for name in entry.params or {}:
            assert f"| `{name}` |" in page
    assert "| `V` | `1` | weight of latency against the energy backlog" in page
    assert "| `p_local` | `0.3333` |" in page and '| `path` | `""` |' in page


def test_a_changed_docstring_makes_the_committed_page_stale(monkeypatch):
    changed = {**builtin(), "lyapunov": dataclasses.replace(builtin()["lyapunov"], rule="a different rule")}
    monkeypatch.setattr(registry_module, "builtin", lambda: changed)
    assert "a different rule" in policy_markdown() and policy_markdown() != (ROOT / POLICY_PAGE).read_text()
