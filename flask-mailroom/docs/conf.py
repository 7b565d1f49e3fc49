"""Sphinx configuration of Flask-Mailroom's documentation (``make docs`` at the repository's top)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx

HERE = Path(__file__).resolve().parent
# The package from this checkout (even where it is not installed), and the local extension.
sys.path[:0] = [str(HERE.parent / "src"), str(HERE / "_ext")]

import flask_mailroom  # noqa: E402

project = "Flask-Mailroom"
author = "The Mailroom developers"
copyright = "2026 The Mailroom developers"
version = release = flask_mailroom.__version__

extensions = [
    "sphinx.ext.autodoc",
    "mailroom_settings",
]

root_doc = "index"
exclude_patterns = ["_build"]
language = "en"
templates_path: list[str] = []

# API reference: the docstrings, in source order, with type hints in the signatures.
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
add_module_names = False
python_display_short_literal_types = True

html_theme = "furo"
html_title = f"Flask-Mailroom {release}"
html_static_path: list[str] = []


def code_in_module_docstrings(app: Sphinx, what: str, name: str, obj: Any, options: Any,
                              lines: list[str]) -> None:
    """A module docstring's indented example after a plain paragraph is code, as it reads in
    ``help()``: make it a literal block (reStructuredText would quote it as prose)."""
    if what != "module":
        return
    index = 1
    while index < len(lines):
        before = [line for line in lines[:index] if line.strip()]
        starts_block = lines[index].startswith(" ") and not lines[index - 1].strip()
        if starts_block and before and not before[-1].startswith(" ") and not before[-1].endswith("::"):
            lines[index:index] = ["::", ""]
            index += 2
        index += 1


def setup(app: Sphinx) -> None:
    """Hooks of this documentation."""
    app.connect("autodoc-process-docstring", code_in_module_docstrings)
