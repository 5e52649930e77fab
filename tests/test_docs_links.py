"""Docs that stay true: every relative link in README.md and docs/*.md names a file of the checkout, and the
docs pages link only within docs/ (the site mkdocs builds holds nothing else)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves(page):
    missing = [target for target in LINK.findall(page.read_text())
               if "://" not in target and not (page.parent / target).exists()]
    assert not missing, f"{page.name}: {missing}"


@pytest.mark.parametrize("page", PAGES[1:], ids=lambda p: p.name)
def test_docs_pages_link_only_to_files_the_site_serves(page):
    """The site is built from docs/ alone: a link out of it (../sim/x.py) resolves on GitHub but breaks
    `mkdocs build --strict`; name source files in `code` instead."""
    docs = (ROOT / "docs").resolve()
    outside = [target for target in LINK.findall(page.read_text())
               if "://" not in target and docs not in (page.parent / target).resolve().parents]
    assert not outside, f"{page.name}: {outside}"
