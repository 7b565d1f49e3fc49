"""WSGI entry point for gunicorn: ``gunicorn mailroom.wsgi:app`` (production unless told otherwise)."""

from __future__ import annotations

import os

from mailroom import create_app

os.environ.setdefault("MAILROOM_ENV", "production")
app = create_app()
