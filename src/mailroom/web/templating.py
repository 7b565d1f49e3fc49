"""Template globals shared by pages and emails."""

from __future__ import annotations

from flask import Flask

from mailroom.config import DEVELOPMENT
from mailroom.domain.errors import N_
from mailroom.i18n import _
from mailroom.urls import external_url

# How outbox and announcement statuses read on pages (the stored values stay English words).
STATUS_LABELS = {"queued": N_("queued"), "sending": N_("sending"), "sent": N_("sent"), "failed": N_("failed"),
                 "skipped": N_("skipped"), "expired": N_("expired"), "draft": N_("draft"),
                 "suppressed": N_("suppressed"),
                 # The delivery engine's lanes and circuit-breaker states.
                 "transactional": N_("account mail"), "bulk": N_("bulk mail"), "closed": N_("closed"),
                 "open": N_("open"), "half-open": N_("half-open")}


def status_label(status: str) -> str:
    """A status in the page's language."""
    return _(STATUS_LABELS[status]) if status in STATUS_LABELS else status


def register(app: Flask) -> None:
    """Expose helpers to every template."""
    app.jinja_env.globals["external_url"] = external_url
    # The live endpoint table, so templates link only to features that are installed.
    app.jinja_env.globals["url_map_endpoints"] = app.view_functions
    app.jinja_env.globals["is_development"] = app.config["MAILROOM_ENV"] == DEVELOPMENT
    app.jinja_env.globals["status_label"] = status_label
