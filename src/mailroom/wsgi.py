"""WSGI entry point for gunicorn: ``gunicorn mailroom.wsgi:app`` (production unless told otherwise).

A ``.env`` file in the working directory (or above it) is read first, exactly as ``flask`` commands
read it (and skipped the same way, with FLASK_SKIP_DOTENV=1); variables already set win.
"""

from __future__ import annotations

import os

from flask.cli import load_dotenv
from flask.helpers import get_load_dotenv

from mailroom import create_app

if get_load_dotenv():
    load_dotenv()
os.environ.setdefault("MAILROOM_ENV", "production")
app = create_app()
