"""The README is a landing page that stays true: its two set-up commands are what CI runs, its comparison table
is the policies page's, and every docs page is in the site's navigation (mkdocs builds it strictly)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sim.policies.registry import builtin

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _section(text: str, heading: str) -> str:
    return text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def _setup_commands(text: str) -> list[str]:
    block = _section(text, "Set up").split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def _table(text: str, header_start: str) -> list[str]:
    """The lines of the markdown table whose header starts so, header and rule included."""
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[first:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def test_the_readme_has_exactly_two_setup_commands_and_ci_runs_both():
    commands = _setup_commands(README)
    assert len(commands) == 2, commands
    install_and_run, tests = commands
    install, run = (part.strip() for part in install_and_run.split("&&"))
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert install in ci, f".ci/run does not install as the README says: {install}"
    assert any(line.startswith(run + " ") or line == run for line in ci), f".ci/run does not run: {run}"
    assert tests in ci, f".ci/run does not test as the README says: {tests}"
    assert run.split()[2] == "scenarios/quickstart.yaml" and (ROOT / run.split()[2]).is_file()


def test_the_docs_home_page_gives_the_same_setup_commands():
    assert _setup_commands((ROOT / "docs" / "index.md").read_text()) == _setup_commands(README)


def test_the_readmes_comparison_table_is_the_policies_pages():
    header = "| policy | latency mean (ms) |"
    page = (ROOT / "docs" / "policies.md").read_text()
    assert _table(README, header) == _table(page, header)
    assert len(_table(README, header)) == 7  # header, rule and the five policies of the command
    command = "edgefed compare scenarios/congested.yaml --policies local,cloud,greedy-latency,lyapunov,linucb --seeds 3"
    assert command in _section(README, "First comparison") and command in page


def test_the_policies_table_names_every_builtin_policy_and_no_other():
    rows = _table((ROOT / "docs" / "policies.md").read_text(), "| name | rule | parameters |")[2:]
    named = {name for row in rows for name in re.findall(r"`([a-z-]+)`", row.split("|")[1])}
    assert named == set(builtin())


def _nav_pages(nav) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in _nav_pages(value)]
    return [page for item in nav for page in _nav_pages(item)]


def test_every_docs_page_is_in_the_navigation_and_every_entry_exists():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    assert config["docs_dir"] == "docs"
    listed = _nav_pages(config["nav"])
    assert sorted(listed) == sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    assert len(listed) == len(set(listed))


def test_the_readme_links_every_docs_page():
    linked = set(re.findall(r"\]\(docs/([^)#]+\.md)", README))
    missing = {p.name for p in (ROOT / "docs").glob("*.md")} - linked - {"index.md"}
    assert not missing, f"README.md does not link {sorted(missing)}"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("mkdocs") is None, reason="the docs extra is not installed: pip install -e '.[docs]'")
def test_the_site_builds_in_strict_mode(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                           cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    assert (tmp_path / "site" / "policy-reference.html").is_file()
