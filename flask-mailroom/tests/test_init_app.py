"""``Mail.init_app`` changes the host only as its docstring says: no Jinja filter, global or extension;
the commands under the CLI group the host names (or none); the dev mailbox only when it is on."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_mailroom import Mail, settings
from flask_mailroom.store import state

from support.i18n_apps import deliver, mailbox_config, mailbox_host


def jinja_snapshot(app: Flask) -> dict[str, Any]:
    """What a host's templates see from its Jinja environment: filters, globals, extensions, policies."""
    env = app.jinja_env
    return {"filters": dict(env.filters), "globals": dict(env.globals), "extensions": dict(env.extensions),
            "policies": dict(env.policies), "tests": dict(env.tests)}


def bare_host(tmp_path: Path, **config: Any) -> Flask:
    """A bare Flask app with the mail settings of a host, and nothing else."""
    app = Flask("bare_host")
    app.config.update(mailbox_config(tmp_path, **config))
    return app


@pytest.mark.parametrize("mailbox", [True, False])
def test_the_hosts_jinja_environment_is_the_same_before_and_after(tmp_path: Path, mailbox: bool) -> None:
    app = bare_host(tmp_path, MAIL_DEV_MAILBOX=mailbox)
    before = jinja_snapshot(app)
    processors = list(app.template_context_processors[None])
    Mail(app)
    assert jinja_snapshot(app) == before
    assert app.template_context_processors[None] == processors, "no app-wide context processor"
    for name in ("datetimeformat", "numberformat", "decimalformat"):
        assert name not in app.jinja_env.filters
    for name in ("zoned", "zone_name", "gettext", "_"):
        assert name not in app.jinja_env.globals
    assert "jinja2.ext.InternationalizationExtension" not in app.jinja_env.extensions
    state(app).dispose()


def test_init_app_adds_what_it_documents_and_nothing_else(tmp_path: Path) -> None:
    app = bare_host(tmp_path)
    config, extensions = dict(app.config), set(app.extensions)
    teardowns, befores = len(app.teardown_appcontext_funcs), dict(app.before_request_funcs)
    Mail(app)
    assert set(app.extensions) - extensions == {"mail"}
    added = {key for key in app.config if key not in config}
    assert added, "defaults for the mail settings it reads"
    assert added <= {entry.key for entry in settings.SETTINGS}, added
    assert all(app.config[key] == value for key, value in config.items()), "the host's settings are kept"
    assert len(app.teardown_appcontext_funcs) == teardowns + 1
    assert set(app.cli.commands) == {"mail"}
    assert set(app.blueprints) == {"devmail"}
    assert app.before_request_funcs.get(None, []) == befores.get(None, []), "no worker unless asked for"
    state(app).dispose()


def test_the_dev_mailbox_is_mounted_only_when_it_is_on(tmp_path: Path) -> None:
    off = bare_host(tmp_path, MAIL_DEV_MAILBOX=False)
    Mail(off)
    assert "devmail" not in off.blueprints
    assert not any(rule.rule.startswith("/dev/mail") for rule in off.url_map.iter_rules())
    assert off.test_client().get("/dev/mail").status_code == 404
    state(off).dispose()


def test_the_in_process_worker_hooks_the_first_request_only_when_asked(tmp_path: Path) -> None:
    app = bare_host(tmp_path, MAIL_WORKER_INPROCESS=True)
    Mail(app)
    assert len(app.before_request_funcs.get(None, [])) == 1
    state(app).dispose()


# --- the CLI group ----------------------------------------------------------------------------


def test_the_cli_group_is_mail_by_default(tmp_path: Path) -> None:
    with mailbox_host(tmp_path) as app:
        assert set(app.cli.commands) == {"mail"}
        result = app.test_cli_runner().invoke(args=["mail", "status"])
        assert result.exit_code == 0, result.output
        assert "Outbox" in result.output


def test_a_host_names_the_cli_group(tmp_path: Path) -> None:
    app = bare_host(tmp_path)
    mail = Mail(app, cli_group="email")
    with app.app_context():
        mail.upgrade()
    assert set(app.cli.commands) == {"email"}
    result = app.test_cli_runner().invoke(args=["email", "status"])
    assert result.exit_code == 0, result.output
    assert "Outbox" in result.output
    assert app.test_cli_runner().invoke(args=["mail", "status"]).exit_code != 0
    mail_id = deliver(app)
    assert mail_id
    assert "<code>flask email catcher</code>" in app.test_client().get("/dev/mail").get_data(as_text=True)
    state(app).dispose()


def test_no_cli_group_adds_no_commands(tmp_path: Path) -> None:
    app = bare_host(tmp_path)
    commands = dict(app.cli.commands)
    Mail(app, cli_group=None)
    assert dict(app.cli.commands) == commands
    state(app).dispose()


def test_init_app_takes_the_constructors_group_unless_given_its_own(tmp_path: Path) -> None:
    mail = Mail(cli_group="email")
    first, second, third = (bare_host(tmp_path / name) for name in ("a", "b", "c"))
    mail.init_app(first)
    mail.init_app(second, cli_group="outbox")
    mail.init_app(third, cli_group=None)
    assert (set(first.cli.commands), set(second.cli.commands), set(third.cli.commands)) == (
        {"email"}, {"outbox"}, set())
    for app in (first, second, third):
        state(app).dispose()


# --- the dev mailbox without the host's filters -----------------------------------------------


def test_the_dev_mailbox_renders_without_any_host_filter(tmp_path: Path) -> None:
    with mailbox_host(tmp_path) as app:
        assert not {"datetimeformat", "numberformat", "decimalformat"} & set(app.jinja_env.filters)
        mail_id = deliver(app, subject="Sizes <&>")
        client = app.test_client()
        listing = client.get("/dev/mail")
        assert listing.status_code == 200
        assert "Sizes &lt;&amp;&gt;" in listing.get_data(as_text=True)
        page = client.get(f"/dev/mail/{mail_id}")
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert "application/pdf, 1,242 bytes" in text
        assert " UTC" in text or "(UTC)" in text
        assert re.search(r"\d+ bytes \([\d.]+ KB\) of Gmail", text)
        assert client.get("/dev/mail?q=nothing-matches-this").status_code == 200
        assert "No message matches “nothing-matches-this”." in client.get(
            "/dev/mail?q=nothing-matches-this").get_data(as_text=True)
        assert "<script>" not in client.get("/dev/mail?q=<script>").get_data(as_text=True), "escaped"
