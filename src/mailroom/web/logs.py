"""Access logs without secrets: the tokens in link paths are replaced before any handler sees them.

The emailed links (reset, revert, unsubscribe) carry their token in the path; the reset link's
first GET moves it to the server (its handle into the session), but that one request still
reaches the access log of the development server (Werkzeug) or gunicorn. Both logs name the client
as ``ProxyFix`` leaves ``REMOTE_ADDR`` (PROXY_FIX_X_FOR trusted hops).
"""

from __future__ import annotations

import logging
import re

TOKEN_IN_PATH = re.compile(r"(/(?:reset_password|email/revert|unsubscribe)/)[^/\s?#\"']+")
ACCESS_LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error")
REDACTED = r"\1[token]"


def redact(text: str) -> str:
    """The text with every token of a link path replaced by ``[token]``."""
    return TOKEN_IN_PATH.sub(REDACTED, text)


class RedactTokens(logging.Filter):
    """A filter that rewrites a record's message when it holds a token."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep the record, with its message redacted."""
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install() -> None:
    """Put the filter on the access loggers, once per process."""
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
