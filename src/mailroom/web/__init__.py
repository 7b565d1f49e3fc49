"""The web layer: blueprints, error handlers, template helpers and response headers."""

from __future__ import annotations

from flask import Flask
from flask_mailroom import deliverability

from mailroom.extensions import csrf


def register(app: Flask) -> None:
    """Attach everything web-facing to the application."""
    # ``reset``, ``registration`` and ``account_security`` are imported for the routes they add
    # to ``auth.bp`` and ``account.bp``.
    from mailroom.web import (  # noqa: F401
        account,
        account_security,
        api,
        auth,
        bodies,
        errors,
        logs,
        main,
        registration,
        reset,
        security,
        templating,
    )

    logs.install()
    app.register_blueprint(main.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(api.bp)
    from mailroom.web import admin, unsubscribe

    app.register_blueprint(admin.bp)
    app.register_blueprint(deliverability.webhooks, url_prefix="/mail/events")
    csrf.exempt(deliverability.webhooks)
    app.register_blueprint(unsubscribe.bp)
    from mailroom.web import gallery

    # The dev mailbox itself is the mail extension's blueprint, mounted by Mail.init_app.
    app.register_blueprint(gallery.bp)
    from mailroom.web import language

    app.register_blueprint(language.bp)
    errors.register(app)
    bodies.register(app)
    security.register(app)
    templating.register(app)
    auth.register_login(app)
