"""``.. mailroom-settings::``: the configuration reference, generated from the settings registry.

Every entry of ``flask_mailroom.settings.SETTINGS`` becomes a ``confval`` (key, type, default and
description) under a section per group, in the registry's order; the keys the mail core reads but
Flask or Flask-Babel own follow in a list. The page cannot drift from the code: it is the code.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

from flask_mailroom import settings

UNDERLINE = "-"


def settings_rst() -> list[str]:
    """The reStructuredText of the reference, one section per group."""
    lines: list[str] = []
    for group in settings.GROUPS:
        lines += [group, UNDERLINE * len(group), ""]
        for entry in settings.SETTINGS:
            if entry.group != group:
                continue
            lines += [f".. confval:: {entry.key}",
                      f"   :type: ``{entry.type}``",
                      f"   :default: ``{entry.shown_default}``",
                      "",
                      f"   {entry.description}",
                      ""]
    title = "Read from Flask and Flask-Babel"
    lines += [title, UNDERLINE * len(title), "",
              "The mail core also reads these keys, which their owners define and default:", ""]
    lines += [f"- ``{key}``: {text}" for key, text in settings.FOREIGN_KEYS.items()]
    return [*lines, ""]


class MailroomSettings(SphinxDirective):
    """Insert the generated reference where the directive stands."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        """Parse the generated text in place (its sections nest under the page's title)."""
        self.env.note_dependency(settings.__file__)
        container = nodes.section()
        container.document = self.state.document
        nested_parse_with_titles(self.state, StringList(settings_rst(), source="flask_mailroom.settings"),
                                 container)
        return list(container.children)


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the directive."""
    app.add_directive("mailroom-settings", MailroomSettings)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
