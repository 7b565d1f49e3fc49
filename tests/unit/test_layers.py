"""The layers, read from the source: the mail core and the domain never reach up, the application
uses the mail core through its public names only, and the command and account modules have no cycle."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

import mailroom
import mailroom.mail

PACKAGE = Path(mailroom.__file__).parent
PUBLIC = set(mailroom.mail.__all__)
# mailroom.db shares the mail core's column types and naming rules, so both schemas read alike.
MAY_USE_MAIL_INTERNALS = {"mailroom.db"}
# Known debt: issue 14's modules (landed the same night) still reach into the mail core's modules.
ISSUE_14_DEBT = {"mailroom.cli.deliverability", "mailroom.services.deliverability",
                 "mailroom.web.mail_events", "mailroom.web.admin", "mailroom.services.reset"}


def module_name(path: Path) -> str:
    """``src/mailroom/mail/worker.py`` -> ``mailroom.mail.worker``."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> Iterator[tuple[str, Path]]:
    """Every module of the package except the migration scripts."""
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" not in path.relative_to(PACKAGE).parts:
            yield module_name(path), path


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
    """The mailroom modules an import reaches (``from a import b`` reaches ``a.b`` when it is one)."""
    known = known_modules()
    submodules = {f"{module}.{name}" for name in names if f"{module}.{name}" in known}
    if names and len(submodules) == len(names):
        return submodules
    return submodules | {module}


def within(module: str, *packages: str) -> bool:
    """Whether ``module`` is one of ``packages`` or inside one."""
    return any(module == p or module.startswith(p + ".") for p in packages)


def graph() -> dict[str, set[str]]:
    """mailroom module -> the mailroom modules it imports."""
    edges: dict[str, set[str]] = {}
    for name, path in modules():
        edges[name] = set()
        for module, names in imports(path):
            if within(module, "mailroom"):
                edges[name] |= targets(module, names)
    return edges


@pytest.mark.parametrize(("layer", "allowed"), [
    ("mailroom.mail", ("mailroom.mail", "mailroom.domain")),
    ("mailroom.domain", ("mailroom.domain",)),
])
def test_the_mail_core_and_the_domain_never_reach_up(layer: str, allowed: tuple[str, ...]) -> None:
    reaching_up = sorted(f"{source} imports {target}" for source, found in graph().items()
                         if within(source, layer) for target in found if not within(target, *allowed))
    assert reaching_up == []


def test_the_application_uses_only_the_public_names_of_the_mail_core() -> None:
    private = []
    for name, path in modules():
        if within(name, "mailroom.mail") or name in MAY_USE_MAIL_INTERNALS | ISSUE_14_DEBT:
            continue
        for module, names in imports(path):
            if within(module, "mailroom.mail") and (module != "mailroom.mail" or set(names) - PUBLIC):
                private.append(f"{name}: from {module} import {', '.join(names)}")
    assert private == []


def cycles_through(edges: dict[str, set[str]], start: str) -> list[list[str]]:
    """Every import path that leaves ``start`` and comes back to it (each module visited once)."""
    found: list[list[str]] = []
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    while stack:
        node, path = stack.pop()
        for target in edges.get(node, set()):
            if target == start:
                found.append([*path, start])
            elif target not in path:
                stack.append((target, [*path, target]))
    return found


def test_the_commands_and_the_account_services_have_no_import_cycle() -> None:
    edges = graph()
    watched = [n for n in edges if within(n, "mailroom.cli", "mailroom.mail.commands")]
    watched += ["mailroom.services.accounts", "mailroom.services.confirmation"]
    assert {name: cycles_through(edges, name) for name in watched} == {name: [] for name in watched}


def test_the_checker_sees_a_reach_up_and_a_cycle() -> None:
    # The checks above would pass on an empty graph; show they read this source.
    edges = graph()
    assert "mailroom.mail.worker" in edges["mailroom.cli"] | edges["mailroom.mail.commands"]
    assert cycles_through({"a": {"b"}, "b": {"a"}}, "a") == [["a", "b", "a"]]
    assert "mailroom.services.errors" in edges["mailroom.services.confirmation"]


def test_importing_the_mail_core_does_not_load_the_application() -> None:
    # Python runs mailroom/__init__.py before any mailroom.mail module: it must import nothing of ours.
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    top_level = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    names = [getattr(node, "module", None) or node.names[0].name for node in top_level]
    assert [name for name in names if within(name, "mailroom")] == []
    assert "mailroom.extensions" in graph()["mailroom"]  # what create_app loads, on demand
