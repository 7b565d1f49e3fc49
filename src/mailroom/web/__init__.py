"""The web layer: blueprints, error handlers, template helpers and response headers."""

from __future__ import annotations

from flask import Flask
from flask_mailroom import deliverability

from mailroom.extensions import csrf


def register(app: Flask) -> None:
    """Attach everything web-facing to the application, each blueprint named here."""
    from mailroom.web import (
        account,
        account_devices,
        account_security,
        admin,
        api,
        auth,
        bodies,
        errors,
        gallery,
        language,
        logs,
        main,
        registration,
        reset,
        security,
        signin,
        templating,
        unsubscribe,
    )

    logs.install()
    # The dev mailbox itself is the mail extension's blueprint, mounted by Mail.init_app.
    for blueprint in (main.bp, auth.bp, registration.bp, reset.bp, account.bp, account_security.bp,
                      account_devices.bp, api.bp, admin.bp, unsubscribe.bp, gallery.bp, language.bp,
                      signin.bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(deliverability.webhooks, url_prefix="/mail/events")
    csrf.exempt(deliverability.webhooks)
    errors.register(app)
    bodies.register(app)
    security.register(app)
    templating.register(app)
    auth.register_login(app)
    app.before_request(_sweep_when_due)


def _sweep_when_due() -> None:
    """Before a request, sweep expired sessions and reset handoffs once per SWEEP_INTERVAL."""
    from mailroom.services import housekeeping

    housekeeping.sweep_if_due()
