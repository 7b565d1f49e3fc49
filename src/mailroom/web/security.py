"""Response headers that every page carries."""

from __future__ import annotations

from flask import Flask, Response

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'"
)


def _headers(response: Response) -> Response:
    """Add conservative defaults without overriding what a view set on purpose."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Content-Security-Policy", CSP)
    return response


def register(app: Flask) -> None:
    """Install the header hook."""
    app.after_request(_headers)
