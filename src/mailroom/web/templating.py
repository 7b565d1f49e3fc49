"""Template globals shared by pages and emails."""

from __future__ import annotations

from flask import Flask

from mailroom.config import DEVELOPMENT
from mailroom.domain.waits import format_wait
from mailroom.urls import external_url


def register(app: Flask) -> None:
    """Expose helpers to every template."""
    app.jinja_env.globals["external_url"] = external_url
    # The live endpoint table, so templates link only to features that are installed.
    app.jinja_env.globals["url_map_endpoints"] = app.view_functions
    app.jinja_env.globals["is_development"] = app.config["MAILROOM_ENV"] == DEVELOPMENT
    app.jinja_env.filters["wait"] = format_wait
