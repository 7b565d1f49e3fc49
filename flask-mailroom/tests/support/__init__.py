"""Test support of Flask-Mailroom's own suite: minimal host apps, real servers on loopback, helpers."""
