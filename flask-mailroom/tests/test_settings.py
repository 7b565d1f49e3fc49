"""The settings registry: every key the mail core reads has a default there, and nothing else.

The keys are found by reading the package's source (Python and templates) for ``config[...]``,
``config.get(...)`` and ``_config(...)`` with a literal key, so a new key read without a default
in ``flask_mailroom.settings.SETTINGS`` fails here, not as a KeyError in someone's host.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask

import flask_mailroom
from flask_mailroom import Mail
from flask_mailroom.settings import (
    ENGINE_DEFAULTS,
    FOREIGN_KEYS,
    GROUPS,
    OUTBOX_DEFAULTS,
    SETTINGS,
    DeliverySettings,
    apply_defaults,
    setting,
)

PACKAGE = Path(flask_mailroom.__file__).parent
# ``config["KEY"]``, ``config.get("KEY"``, ``self._config("KEY")``, in Python and in Jinja.
READ = re.compile(r"""\b_?config(?:\s*\[\s*|\.get\(\s*|\(\s*)["']([A-Z][A-Z0-9_]*)["']""")


def read_keys() -> dict[str, list[str]]:
    """Every configuration key the package's source reads, with where (migrations aside)."""
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*")):
        if path.suffix not in (".py", ".html") or "migrations" in path.relative_to(PACKAGE).parts:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for key in READ.findall(line):
                found.setdefault(key, []).append(f"{path.relative_to(PACKAGE)}:{number}")
    return found


def test_the_scan_finds_keys_in_code_and_templates() -> None:
    found = read_keys()
    assert "MAIL_SOFT_BOUNCE_LIMIT" in found, "a config[...] read"
    assert "MAIL_EVENTS_GENERIC_SECRET" in found, "a config.get(...) read"
    assert "MAIL_DEV_MAILBOX_LAYOUT" in found, "a template's config[...]"
    assert "MAILROOM_DATABASE_URL" in found, "MailState._config(...)"


def test_every_key_read_has_a_default_in_the_registry() -> None:
    registered = {entry.key for entry in SETTINGS}
    missing = {key: where for key, where in read_keys().items()
               if key not in registered and key not in FOREIGN_KEYS}
    assert not missing, f"read without a default in flask_mailroom.settings.SETTINGS: {missing}"


def test_every_registered_key_is_read_somewhere() -> None:
    read = set(read_keys()) | set(ENGINE_DEFAULTS)  # DeliverySettings reads the engine's keys
    unused = [entry.key for entry in SETTINGS if entry.key not in read]
    assert not unused, f"in the registry but read nowhere in the package: {unused}"


def test_a_bare_flask_app_gets_every_key_the_package_reads() -> None:
    app = Flask(__name__)
    Mail(app)
    foreign_defaults = {"BABEL_DEFAULT_LOCALE"}  # Flask-Babel's, read with its own default
    absent = [key for key in read_keys() if key not in app.config and key not in foreign_defaults]
    assert not absent, f"a host without these settings would raise KeyError: {absent}"
    assert app.config["MAIL_SOFT_BOUNCE_LIMIT"] == 4
    assert app.config["MAIL_EVENTS_SES_TOPIC_ARNS"] == []


def test_foreign_keys_are_the_hosts_own() -> None:
    app = Flask(__name__)
    assert {"SERVER_NAME", "PREFERRED_URL_SCHEME"} <= set(app.config), "Flask defaults these"
    assert not set(FOREIGN_KEYS) & {entry.key for entry in SETTINGS}


def test_the_registry_is_well_formed() -> None:
    keys = [entry.key for entry in SETTINGS]
    assert len(keys) == len(set(keys)), "one entry per key"
    for entry in SETTINGS:
        assert entry.group in GROUPS, entry.key
        assert entry.type, entry.key
        text = entry.description
        assert text[:1].isupper(), f"{entry.key}: a sentence, please"
        assert text.endswith("."), f"{entry.key}: a sentence, please"
        assert setting(entry.key) is entry


@pytest.mark.parametrize(("attribute", "key"), [("debug", "MAIL_DEBUG"), ("testing", "MAIL_SUPPRESS_SEND"),
                                                 ("debug", "MAIL_DEV_MAILBOX")])
def test_some_defaults_follow_the_application(attribute: str, key: str) -> None:
    for value in (False, True):
        app = Flask(__name__)
        setattr(app, attribute, value)
        apply_defaults(app)
        assert app.config[key] is value
    assert setting(key).shown_default == f"app.{attribute}"


def test_what_the_application_set_is_kept_and_lists_are_not_shared() -> None:
    first, second = Flask(__name__), Flask(__name__)
    first.config.update(MAIL_PORT=587, MAIL_SOFT_BOUNCE_LIMIT=None)
    apply_defaults(first)
    apply_defaults(second)
    assert first.config["MAIL_PORT"] == 587
    assert first.config["MAIL_SOFT_BOUNCE_LIMIT"] == 4, "None means unset"
    first.config["MAIL_EVENTS_SES_TOPIC_ARNS"].append("arn:aws:sns:eu-west-1:1:bounces")
    assert second.config["MAIL_EVENTS_SES_TOPIC_ARNS"] == []


def test_the_older_names_are_the_registrys_values() -> None:
    assert OUTBOX_DEFAULTS == {"OUTBOX_MAX_ATTEMPTS": 8, "OUTBOX_BACKOFF_BASE": 30,
                               "OUTBOX_BACKOFF_MAX": 3600, "OUTBOX_RETENTION_DAYS": 7,
                               "OUTBOX_PURGE_INTERVAL": 3600}
    assert {key: setting(key).default for key in ENGINE_DEFAULTS} == ENGINE_DEFAULTS
    assert DeliverySettings.of({}).connections == ENGINE_DEFAULTS["MAIL_CONNECTIONS"]


@pytest.mark.parametrize(("config", "message"), [
    ({"MAIL_USE_TLS": True, "MAIL_USE_SSL": True}, "MAIL_USE_TLS"),
    ({"MAIL_TRANSPORT": "pigeon"}, "MAIL_TRANSPORT"),
    ({"MAIL_CONNECTIONS": 0}, "MAIL_CONNECTIONS"),
    ({"MAIL_RATE_LIMIT": "fast"}, "MAIL_RATE_LIMIT"),
])
def test_conflicting_settings_are_refused_by_name(config: dict[str, object], message: str) -> None:
    app = Flask(__name__)
    app.config.update(config)
    with pytest.raises(RuntimeError, match=message):
        apply_defaults(app)
