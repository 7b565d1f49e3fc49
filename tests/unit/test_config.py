"""Configuration: defaults, environment parsing, the factory mapping, and fail-fast secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailroom import config as settings
from mailroom.config import ConfigError


@pytest.mark.parametrize(("text", "expected"), [
    ("1", True), ("true", True), ("Yes", True), ("on", True),
    ("0", False), ("false", False), ("NO", False), ("off", False), ("", False),
])
def test_booleans_read_as_operators_write_them(text: str, expected: bool) -> None:
    assert settings.parse_bool(text) is expected


def test_a_bad_boolean_names_its_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MAIL_USE_TLS"):
        settings.load(None, {"MAIL_USE_TLS": "maybe"}, str(tmp_path))


def test_environment_zero_means_false_for_flask_mail_keys(tmp_path: Path) -> None:
    loaded = settings.load(None, {"MAIL_USE_TLS": "0", "MAIL_USE_SSL": "0",
                                  "MAIL_SUPPRESS_SEND": "0"}, str(tmp_path))
    assert loaded["MAIL_USE_TLS"] is False
    assert loaded["MAIL_SUPPRESS_SEND"] is False


def test_admins_is_a_comma_separated_list(tmp_path: Path) -> None:
    loaded = settings.load(None, {"ADMINS": " ops@example.com, ,dev@example.com "}, str(tmp_path))
    assert loaded["ADMINS"] == ["ops@example.com", "dev@example.com"]


def test_flask_mail_defaults_hold_without_configuration(tmp_path: Path) -> None:
    loaded = settings.load(None, {}, str(tmp_path))
    assert loaded["MAIL_PORT"] == 25
    assert loaded["MAIL_USE_TLS"] is False
    assert loaded["MAIL_MAX_EMAILS"] is None
    assert loaded["MAIL_TRANSPORT"] == "devmail"
    assert loaded["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert loaded["MAIL_WORKER_INPROCESS"] is True


def test_mapping_wins_over_environment_which_wins_over_defaults(tmp_path: Path) -> None:
    loaded = settings.load({"MAIL_PORT": 2525}, {"MAIL_PORT": "587", "MAIL_TIMEOUT": "7"},
                           str(tmp_path))
    assert loaded["MAIL_PORT"] == 2525
    assert loaded["MAIL_TIMEOUT"] == 7


def test_postgres_urls_use_psycopg3(tmp_path: Path) -> None:
    loaded = settings.load(None, {"DATABASE_URL": "postgres://u@h/db"}, str(tmp_path))
    assert loaded["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize("secret", [None, "", "changeme", "dev", "short"])
def test_production_refuses_a_missing_or_placeholder_secret(tmp_path: Path,
                                                            secret: str | None) -> None:
    environ = {"MAILROOM_ENV": "production", "SERVER_NAME": "mail.example.com"}
    if secret is not None:
        environ["SECRET_KEY"] = secret
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        settings.load(None, environ, str(tmp_path))


def test_production_needs_a_server_name_for_links(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SERVER_NAME"):
        settings.load(None, {"MAILROOM_ENV": "production", "SECRET_KEY": "s" * 40}, str(tmp_path))


def test_development_keeps_a_generated_secret_across_restarts(tmp_path: Path) -> None:
    first = settings.load(None, {}, str(tmp_path))["SECRET_KEY"]
    second = settings.load(None, {}, str(tmp_path))["SECRET_KEY"]
    assert first == second
    assert len(first) >= 32


def test_tls_and_ssl_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MAIL_USE_TLS"):
        settings.load({"MAIL_USE_TLS": True, "MAIL_USE_SSL": True}, {}, str(tmp_path))


def test_unknown_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MAILROOM_ENV"):
        settings.load({"MAILROOM_ENV": "staging"}, {}, str(tmp_path))


def test_the_instance_folder_is_the_checkouts_unless_configured(tmp_path: Path) -> None:
    package = tmp_path / "checkout" / "src" / "mailroom"
    package.mkdir(parents=True)
    (tmp_path / "checkout" / "pyproject.toml").write_text("[project]\n")
    assert settings.instance_folder({}, package) == str((tmp_path / "checkout" / "instance").resolve())
    chosen = tmp_path / "elsewhere"
    assert settings.instance_folder({"MAILROOM_INSTANCE_PATH": str(chosen)}, package) == str(chosen.resolve())
    installed = tmp_path / "venv" / "lib" / "site-packages" / "mailroom"
    installed.mkdir(parents=True)
    assert settings.instance_folder({}, installed) is None, "an installed package keeps Flask's default"
