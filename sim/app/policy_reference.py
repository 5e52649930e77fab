"""The offload policies' reference page, generated from the registry's built-in policies (rule and parameters)."""
from __future__ import annotations

POLICY_PAGE = "docs/policy-reference.md"

_HEADER = """# Policy reference

Generated from the policy registry by `edgefed policies --markdown > docs/policy-reference.md`
(`tests/sim/test_policy_reference.py` fails when this page and the code disagree). Each policy is one file in
`sim/policies/`: its rule is the first line of its class docstring, its parameters are its `params`
declaration. A scenario chooses one with `policy: {name: NAME, params: {...}}`, the command line with
`--policy NAME`. How policies see the world, how to add one and how they compare: [Offload policies](policies.md).
Installed plugins (the `edgefed.policies` entry points) are not listed here; `edgefed policies` shows them too.
"""


def _default(value: float | str) -> str:
    return f'`"{value}"`' if isinstance(value, str) else f"`{format(value, '.4g')}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def policy_markdown() -> str:
    """The page: one section per built-in policy, by name, with its rule and a table of its parameters."""
    from sim.policies.registry import builtin

    parts = [_HEADER]
    for entry in sorted(builtin().values(), key=lambda e: e.name):
        parts.append(f"\n## `{entry.name}`\n\n{entry.rule}\n")
        if entry.params:
            parts.append("\n| parameter | default | meaning |\n|---|---|---|\n")
            parts += [f"| `{name}` | {_default(p.default)} | {_cell(p.doc)} |\n" for name, p in entry.params.items()]
        else:
            parts.append("\nNo parameters.\n")
    return "".join(parts)
