"""The layering of DESIGN.md as tests: no import cycles, the engine free of the application ring, the server
unable to read raw data, the plots reading run directories only.

Imports are read from the source with ast, including those inside functions (an import hidden in a function
is still a dependency), so the rules hold whatever order modules load in.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sim", "clients", "server", "plots")
APP_RING = "sim.app"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


MODULES = _modules()


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    is_package = MODULES[importer].name == "__init__.py"
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(name: str) -> set[str]:
    """Every module `name` imports (top level or inside functions), as dotted names."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(name, node)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
    return found


IMPORTS = {name: _imports(name) for name in MODULES}


def _project_edges(name: str) -> set[str]:
    """The project modules `name` depends on (a package's __init__ counts for `from package import x`)."""
    return {target for target in IMPORTS[name] if target in MODULES and target != name}


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in _project_edges(node):
            # a package's __init__ importing its own submodules (re-exports) is not a cycle of the layering
            if _in(nxt, node) and MODULES[node].name == "__init__.py":
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(MODULES):
        if module not in index:
            visit(module)
    return found


def test_the_import_graph_is_read():
    assert "sim.world" in MODULES and "sim.calendar" in _project_edges("sim.world")


# Serving still reads World's per-device lists (for type checking only it imports World); the Fleet table of
# the layout issue removes this last cycle. Listed so that any new cycle fails, and so does removing this one
# without updating the list.
KNOWN_CYCLES: list[list[str]] = []  # sim.serving <-> sim.world went with the Fleet and Topology


def test_no_import_cycles_between_project_modules():
    assert _cycles() == KNOWN_CYCLES


ENGINE_MUST_NOT_IMPORT = ("server", "plots", APP_RING, "typer", "rich", "ray", "flwr", "clients.app", "clients.data")


# `sim` itself is the front door: sim.run_scenario hands over to the app ring's runner when called
ENGINE = sorted(m for m in MODULES if _in(m, "sim") and not _in(m, APP_RING) and m != "sim")


@pytest.mark.parametrize("module", ENGINE)
def test_the_engine_imports_neither_the_app_ring_nor_server_plots_typer_rich_or_ray(module):
    bad = sorted(t for t in IMPORTS[module] for banned in ENGINE_MUST_NOT_IMPORT if _in(t, banned))
    assert bad == [], f"{module} imports {bad}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _in(m, "server")))
def test_the_server_cannot_read_raw_data(module):
    bad = sorted(t for t in IMPORTS[module] if _in(t, "clients.data") or _in(t, "clients.datasets"))
    assert bad == [], f"{module} imports {bad}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _in(m, "clients")))
def test_clients_never_import_the_server(module):
    bad = sorted(t for t in IMPORTS[module] if _in(t, "server") or _in(t, APP_RING))
    assert bad == [], f"{module} imports {bad}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _in(m, "plots")))
def test_plots_read_run_directories_only(module):
    bad = sorted(t for t in IMPORTS[module] for banned in ("sim", "server", "clients") if _in(t, banned))
    assert bad == [], f"{module} imports {bad}"


ENV_PACKAGE = "sim.envs"  # the only part of the engine that may import gymnasium (an optional extra)


@pytest.mark.parametrize("module", [m for m in ENGINE if not _in(m, ENV_PACKAGE)])
def test_the_engine_runs_without_gymnasium_or_stable_baselines(module):
    bad = sorted(t for t in IMPORTS[module] for banned in ("gymnasium", "stable_baselines3", ENV_PACKAGE)
                 if _in(t, banned))
    assert bad == [], f"{module} imports {bad}"


def test_the_envs_import_gymnasium_but_never_stable_baselines():
    top_level = {name for name in MODULES if _in(name, ENV_PACKAGE)}
    assert "sim.envs.offload" in top_level and "gymnasium" in IMPORTS["sim.envs.offload"]
    assert not any(_in(t, "stable_baselines3") for name in top_level for t in IMPORTS[name])
