"""The documentation and the code cannot drift apart.

The API reference (docs/api/*.rst) names objects with autodoc (``.. autoclass:: Mail``) or by hand
(``.. py:data:: email_dispatched``); a name re-exported from another module is written with
``:canonical:`` pointing at the one place it is described. These tests read those directives and
check them against the public modules' ``__all__`` both ways, then build the whole documentation
with ``sphinx-build -W`` (any warning fails), as ``make docs`` does.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

from flask_mailroom.settings import SETTINGS

DOCS = Path(__file__).resolve().parents[1] / "docs"
API = DOCS / "api"
CHANGELOG = DOCS.parent / "CHANGELOG.md"
# The modules a host may import from, each exporting its public names in ``__all__``.
PUBLIC_MODULES = ("flask_mailroom", "flask_mailroom.compose", "flask_mailroom.deliverability",
                  "flask_mailroom.engine", "flask_mailroom.devmail", "flask_mailroom.models",
                  "flask_mailroom.queue", "flask_mailroom.settings", "flask_mailroom.clock",
                  "flask_mailroom.errors", "flask_mailroom.i18n", "flask_mailroom.health",
                  "flask_mailroom.testing")
MODULE_DIRECTIVE = re.compile(r"^\.\. (?:automodule|py:module|py:currentmodule|currentmodule)::\s*(\S+)\s*$")
OBJECT_DIRECTIVE = re.compile(
    r"^\.\. (?:auto(?:class|exception|function|data|decorator)"
    r"|py:(?:class|exception|function|data|decorator))::\s*([A-Za-z_][A-Za-z0-9_]*)")
CANONICAL = re.compile(r"^\s+:canonical:\s*(\S+)\s*$")


@dataclass(frozen=True)
class Documented:
    """One object the API reference describes: where, under what name, and its canonical name when
    it is a re-export described elsewhere."""

    page: str
    module: str
    name: str
    canonical: str | None

    @property
    def qualified(self) -> str:
        """``module.name``."""
        return f"{self.module}.{self.name}"


def parse_page(path: Path) -> list[Documented]:
    """The top-level object directives of one API page, with the module each belongs to."""
    found: list[Documented] = []
    module: str | None = None
    lines = path.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        if (switch := MODULE_DIRECTIVE.match(line)) is not None:
            module = switch.group(1)
            continue
        if (entry := OBJECT_DIRECTIVE.match(line)) is None:
            continue
        assert module is not None, f"{path.name}:{index + 1}: an object before any module directive"
        canonical = None
        for option in lines[index + 1:]:
            if not option.strip() or not option.lstrip().startswith(":"):
                break
            if (named := CANONICAL.match(option)) is not None:
                canonical = named.group(1)
        found.append(Documented(path.name, module, entry.group(1), canonical))
    return found


@cache
def documented() -> tuple[Documented, ...]:
    """Everything the API reference describes."""
    return tuple(entry for path in sorted(API.glob("*.rst")) for entry in parse_page(path))


def resolve(qualified: str) -> object:
    """The object named ``package.module.name``."""
    module, _, name = qualified.rpartition(".")
    return getattr(importlib.import_module(module), name)


def public(module: str) -> ModuleType:
    """A public module, imported."""
    return importlib.import_module(module)


def test_the_parser_reads_both_kinds_of_entry() -> None:
    names = {entry.qualified: entry for entry in documented()}
    assert names["flask_mailroom.Mail"].canonical is None, "an autodoc entry"
    assert names["flask_mailroom.email_dispatched"].canonical is None, "a hand-written entry"
    assert names["flask_mailroom.queue.OutboxMessage"].canonical == "flask_mailroom.models.OutboxMessage"


def test_every_public_module_has_a_page_in_the_index() -> None:
    index = (API / "index.rst").read_text(encoding="utf-8")
    modules = {entry.module for entry in documented()}
    assert modules == set(PUBLIC_MODULES), "a page per public module, and no other"
    for module in PUBLIC_MODULES:
        page = module.removeprefix("flask_mailroom.") if "." in module else module
        assert (API / f"{page}.rst").is_file(), module
        assert re.search(rf"^\s+{re.escape(page)}\s*$", index, re.MULTILINE), f"{page} is in the toctree"


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_name_in_all_is_documented_and_nothing_else(module: str) -> None:
    exported = set(public(module).__all__)
    described = [entry.name for entry in documented() if entry.module == module]
    assert len(described) == len(set(described)), f"{module}: a name is described twice"
    assert sorted(exported - set(described)) == [], f"in {module}.__all__ but not in docs/api"
    assert sorted(set(described) - exported) == [], f"in docs/api but not in {module}.__all__"


@pytest.mark.parametrize("entry", documented(), ids=lambda entry: entry.qualified)
def test_every_documented_name_exists(entry: Documented) -> None:
    found = resolve(entry.qualified)
    if entry.canonical is not None:
        assert resolve(entry.canonical) is found, f"{entry.qualified} is not {entry.canonical}"


def test_every_re_export_points_at_a_full_description() -> None:
    full = {entry.qualified for entry in documented() if entry.canonical is None}
    dangling = [(entry.qualified, entry.canonical) for entry in documented()
                if entry.canonical is not None and entry.canonical not in full]
    assert not dangling, f"re-exports whose canonical name is described nowhere: {dangling}"


def test_the_configuration_reference_is_generated() -> None:
    page = (DOCS / "configuration.rst").read_text(encoding="utf-8")
    assert ".. mailroom-settings::" in page
    hand_written = [path.name for path in DOCS.rglob("*.rst")
                    if ".. confval::" in path.read_text(encoding="utf-8")]
    assert not hand_written, "every confval comes from flask_mailroom.settings.SETTINGS"


def test_the_changelog_and_the_changes_page_agree() -> None:
    versions = re.findall(r"^## (?:Version )?(\d+\.\d+\.\d+)", CHANGELOG.read_text(encoding="utf-8"),
                          re.MULTILINE)
    changes = (DOCS / "changes.rst").read_text(encoding="utf-8")
    assert versions, "CHANGELOG.md has versions"
    for version in versions:
        assert f"Version {version}" in changes, f"{version} is missing from docs/changes.rst"


@pytest.mark.slow
def test_the_documentation_builds_without_a_warning(tmp_path: Path) -> None:
    out = tmp_path / "html"
    build = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(out)],
        capture_output=True, text=True, timeout=300, check=False)
    assert build.returncode == 0, build.stderr or build.stdout
    assert build.stderr == "", build.stderr
    configuration = (out / "configuration.html").read_text(encoding="utf-8")
    for entry in SETTINGS:
        assert f'id="confval-{entry.key}"' in configuration, f"{entry.key} is not in the reference"
    for entry in documented():
        page = (out / "api" / entry.page.replace(".rst", ".html")).read_text(encoding="utf-8")
        assert f'id="{entry.qualified}"' in page, f"{entry.qualified} has no entry in the built page"
