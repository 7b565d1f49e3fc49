"""Mailroom: Flask accounts carried by email, with a durable outbox.

Nothing of the application is imported at module level: Python runs this module before any
``flask_mailroom`` module, and the mail extension (which any Flask app may use) must not load the
application, its settings or its engine events. Each function imports what it wires.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

MIGRATIONS = str(Path(__file__).parent / "migrations")


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build an application: defaults, then environment, then ``config``; fail fast when unusable."""
    from mailroom import banner, error_reports
    from mailroom import config as settings
    from mailroom import db as _db_events  # noqa: F401  (registers engine events)
    from mailroom.state import KEY, MailroomState

    environ = settings.environment()
    app = Flask(__name__, instance_relative_config=True,
                instance_path=settings.instance_folder(environ, Path(__file__).parent))
    app.config.update(settings.load(config, environ, app.instance_path))
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.extensions[KEY] = MailroomState()
    _trust_proxies(app)
    _bind_extensions(app)
    _register_web(app)
    _register_health(app)
    _register_cli(app)
    _register_emails(app)
    error_reports.install(app)
    _listen_to_mail_events(app)
    banner.announce(app)
    return app


def _trust_proxies(app: Flask) -> None:
    """Read the client's address, scheme, host, port and prefix from the trusted proxies' headers.

    Only when PROXY_FIX_X_* names at least one hop: with none, a forged X-Forwarded-For changes
    nothing. ProxyFix rewrites the WSGI environ itself, so ``request.remote_addr`` (every limit,
    throttle, session record and log line) and the WSGI server's access log see the client.
    """
    from werkzeug.middleware.proxy_fix import ProxyFix

    from mailroom.config import proxy_fix_hops

    hops = proxy_fix_hops(app.config)
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, **hops)  # type: ignore[method-assign]


def _listen_to_mail_events(app: Flask) -> None:
    """Let the accounts hear what the mail core learns (a complaint unsubscribes from announcements)."""
    from mailroom.services import deliverability

    deliverability.register(app)


def _bind_extensions(app: Flask) -> None:
    """Bind the unbound extensions to this application."""
    # Through the module: the name ``mail`` in this package is the ``flask_mailroom`` subpackage.
    from mailroom import extensions as ext
    from mailroom.state import state

    ext.db.init_app(app)
    ext.migrate.init_app(app, ext.db, directory=MIGRATIONS, render_as_batch=True)
    ext.login_manager.init_app(app)
    ext.csrf.init_app(app)
    ext.mail.init_app(app, clock=lambda: state(app).clock)
    # Flask-Limiter keeps the first application's key prefix and default limits for good; each
    # application built in one process (tests build many) must count under its own settings.
    ext.limiter._key_prefix = app.config["RATELIMIT_KEY_PREFIX"]
    ext.limiter.limit_manager.set_default_limits([])
    ext.limiter.init_app(app)
    ext.bootstrap.init_app(app)
    from mailroom import i18n

    i18n.init_app(app)


def _register_web(app: Flask) -> None:
    """Attach blueprints, error handlers, template helpers and response headers."""
    from mailroom.web import register

    register(app)


def _register_health(app: Flask) -> None:
    """Mount /healthz/live and /healthz/ready for load balancers: no sign-in, no CSRF, no rate limit."""
    from flask_mailroom.health import health

    from mailroom import extensions as ext

    app.register_blueprint(health)
    ext.csrf.exempt(health)
    ext.limiter.exempt(health)


def _register_cli(app: Flask) -> None:
    """Attach the ``flask --app mailroom ...`` command groups."""
    from mailroom.cli import register

    register(app)


def _register_emails(app: Flask) -> None:
    """Tell the mail extension how to build the emails the worker builds (deferred ones)."""
    from mailroom import extensions as ext
    from mailroom.services import announcements, reset, signin_codes, signin_notice

    reset.register_builders(ext.mail)
    ext.mail.register_builder(signin_notice.TEMPLATE, signin_notice.build_new_sign_in_email)
    ext.mail.register_builder(signin_codes.CODE_TEMPLATE, signin_codes.build_code_email)
    announcements.register_builders(ext.mail)
