"""The house, read from the source of both packages: Flask-Mailroom's subpackages import only
downward and never the app; the app uses Flask-Mailroom through its public names only; the domain
reaches nothing above it; and no import cycle exists anywhere. There is no exception list."""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import flask_mailroom
import pytest

import mailroom

PACKAGES = {"mailroom": Path(mailroom.__file__).parent,
            "flask_mailroom": Path(flask_mailroom.__file__).parent}
# The modules a host may import from, each exporting its public names in ``__all__``.
PUBLIC_MODULES = ("flask_mailroom", "flask_mailroom.clock", "flask_mailroom.compose",
                  "flask_mailroom.deliverability", "flask_mailroom.devmail", "flask_mailroom.engine",
                  "flask_mailroom.errors", "flask_mailroom.models", "flask_mailroom.queue",
                  "flask_mailroom.settings", "flask_mailroom.i18n", "flask_mailroom.health")
# Flask-Mailroom's layers, lowest first: a module may import its own layer and those below it.
LAYERS = (
    ("flask_mailroom.rules",),
    ("flask_mailroom.errors", "flask_mailroom.clock", "flask_mailroom.signals", "flask_mailroom.settings",
     "flask_mailroom.models", "flask_mailroom.store", "flask_mailroom.schema", "flask_mailroom.i18n"),
    ("flask_mailroom.compose",),
    ("flask_mailroom.deliverability",),
    ("flask_mailroom.engine",),
    ("flask_mailroom.devmail",),
    ("flask_mailroom.extension", "flask_mailroom.queue", "flask_mailroom.cli", "flask_mailroom.health",
     "flask_mailroom"),
)


def module_name(package: str, path: Path) -> str:
    """``.../flask_mailroom/engine/worker.py`` -> ``flask_mailroom.engine.worker``."""
    parts = (package, *path.relative_to(PACKAGES[package]).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> Iterator[tuple[str, Path]]:
    """Every module of both packages except the migration scripts."""
    for package, root in PACKAGES.items():
        for path in sorted(root.rglob("*.py")):
            if "migrations" not in path.relative_to(root).parts:
                yield module_name(package, path), path


def imports(path: Path) -> Iterator[tuple[str, list[str]]]:
    """Each import anywhere in the file (functions included): the module, and the names taken."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, [alias.name for alias in node.names]


@cache
def known_modules() -> frozenset[str]:
    """The names of every module."""
    return frozenset(name for name, _ in modules())


def targets(module: str, names: list[str]) -> set[str]:
    """The modules an import reaches (``from a import b`` reaches ``a.b`` when it is one)."""
    known = known_modules()
    submodules = {f"{module}.{name}" for name in names if f"{module}.{name}" in known}
    if names and len(submodules) == len(names):
        return submodules
    return submodules | {module}


def within(module: str, *packages: str) -> bool:
    """Whether ``module`` is one of ``packages`` or inside one."""
    return any(module == p or module.startswith(p + ".") for p in packages)


@cache
def graph() -> dict[str, frozenset[str]]:
    """module -> the modules of either package it imports."""
    edges: dict[str, frozenset[str]] = {}
    for name, path in modules():
        found: set[str] = set()
        for module, names in imports(path):
            if within(module, *PACKAGES):
                found |= targets(module, names)
        edges[name] = frozenset(found - {name})
    return edges


def layer_of(module: str) -> int:
    """The index of the layer holding ``module`` (the most specific match)."""
    matches = [(len(prefix), index) for index, layer in enumerate(LAYERS) for prefix in layer
               if within(module, prefix) and (prefix != "flask_mailroom" or module == prefix)]
    assert matches, f"{module} is in no layer: add it to LAYERS"
    return max(matches)[1]


def test_flask_mailroom_imports_only_downward_and_never_the_app() -> None:
    upward = sorted(f"{source} imports {target}" for source, found in graph().items()
                    if within(source, "flask_mailroom") for target in found
                    if not within(target, "flask_mailroom") or layer_of(target) > layer_of(source))
    assert upward == []


def test_the_domain_imports_only_the_domain() -> None:
    reaching = sorted(f"{source} imports {target}" for source, found in graph().items()
                      if within(source, "mailroom.domain") for target in found
                      if not within(target, "mailroom.domain"))
    assert reaching == []


def test_the_application_uses_only_public_names_of_flask_mailroom() -> None:
    private = []
    for name, path in modules():
        if within(name, "flask_mailroom"):
            continue
        for module, names in imports(path):
            if not within(module, "flask_mailroom"):
                continue
            exported = set(getattr(importlib.import_module(module), "__all__", ())) \
                if module in PUBLIC_MODULES else set()
            submodules = {name for name in names if f"{module}.{name}" in PUBLIC_MODULES}
            if module not in PUBLIC_MODULES or set(names) - exported - submodules:
                private.append(f"{name}: from {module} import {', '.join(names)}")
    assert private == []


def cycles_through(edges: dict[str, frozenset[str]], start: str) -> list[list[str]]:
    """Every import path that leaves ``start`` and comes back to it (each module visited once)."""
    found: list[list[str]] = []
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    while stack:
        node, path = stack.pop()
        for target in edges.get(node, frozenset()):
            if target == start:
                found.append([*path, start])
            elif target not in path:
                stack.append((target, [*path, target]))
    return found


def strongly_connected(edges: dict[str, frozenset[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or not (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges.get(node, frozenset()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return [group for group in groups if len(group) > 1]


def test_no_import_cycle_anywhere_in_either_package() -> None:
    # A package's __init__ importing its own submodules is how a package exports; count only the
    # edges from a submodule back up to its own package's __init__ as part of a cycle when that
    # __init__ is not the package it lives in.
    assert strongly_connected(graph()) == []


def test_the_checks_see_a_reach_up_and_a_cycle() -> None:
    # The checks above would pass on an empty graph; show they read this source.
    edges = graph()
    assert "flask_mailroom.engine.worker" in edges["flask_mailroom.cli"]
    assert "mailroom.services.errors" in edges["mailroom.services.confirmation"]
    assert layer_of("flask_mailroom.engine.worker") > layer_of("flask_mailroom.compose.mime")
    assert strongly_connected({"a": frozenset({"b"}), "b": frozenset({"a"}), "c": frozenset({"a"})}) \
        == [["a", "b"]]
    assert cycles_through({"a": frozenset({"b"}), "b": frozenset({"a"})}, "a") == [["a", "b", "a"]]


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_public_module_exports_what_it_lists(module: str) -> None:
    found = importlib.import_module(module)
    assert [name for name in found.__all__ if not hasattr(found, name)] == []


def test_importing_the_app_package_loads_nothing_of_ours() -> None:
    # mailroom/__init__.py runs before any mailroom module: it imports nothing of ours at the top.
    tree = ast.parse((PACKAGES["mailroom"] / "__init__.py").read_text(encoding="utf-8"))
    top_level = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    names = [getattr(node, "module", None) or node.names[0].name for node in top_level]
    assert [name for name in names if within(name, "mailroom")] == []
    assert "mailroom.extensions" in graph()["mailroom"]  # what create_app loads, on demand
