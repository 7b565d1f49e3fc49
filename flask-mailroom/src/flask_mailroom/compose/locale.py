"""Render each email in its recipient's language and time zone, isolated from every other message.

Pages take their language from the request; an email takes it from its recipient, and may be
built where there is no request at all (the delivery worker). Each message renders inside
``speaking``: the locale, time zone and catalogue cached for it are dropped when it ends, so
nothing one message set can reach the next one a long-running worker renders, nor the page of
the request that queued it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app, g

# Where the time zone of the message being rendered is kept, for the application's selector.
TIMEZONE_KEY = "mail_timezone"


@contextmanager
def speaking(locale: str | None, timezone: str | None = None) -> Iterator[None]:
    """Render inside this block in ``locale`` and ``timezone`` (None: the application's defaults);
    without Flask-Babel on the application only the time zone is kept (for the host's filters)."""
    if "babel" not in current_app.extensions:
        previous = g.get(TIMEZONE_KEY)
        setattr(g, TIMEZONE_KEY, timezone or "")
        try:
            yield
        finally:
            setattr(g, TIMEZONE_KEY, previous)
        return
    from flask_babel import force_locale, refresh

    with force_locale(locale or current_app.config.get("BABEL_DEFAULT_LOCALE", "en")):
        previous = g.get(TIMEZONE_KEY)
        setattr(g, TIMEZONE_KEY, timezone or "")
        refresh()  # drop the zone and catalogue cached before; the forced locale stays
        try:
            yield
        finally:
            setattr(g, TIMEZONE_KEY, previous)
            refresh()


def rendering_timezone() -> str | None:
    """The zone of the message being rendered ("" for the default), or None outside one."""
    found = g.get(TIMEZONE_KEY) if g else None
    return found if isinstance(found, str) else None
