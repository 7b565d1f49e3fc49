"""The web layer: blueprints, error handlers, template helpers and response headers."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """Attach everything web-facing to the application."""
    from mailroom.web import account, auth, errors, main, security, templating

    app.register_blueprint(main.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(account.bp)
    errors.register(app)
    security.register(app)
    templating.register(app)
    auth.register_login(app)
