"""Configuration: defaults, then environment variables, then the mapping given to the factory."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flask_mailroom.settings import OUTBOX_DEFAULTS, DeliverySettings

DEVELOPMENT = "development"
PRODUCTION = "production"
TESTING = "testing"
MODES = (DEVELOPMENT, PRODUCTION, TESTING)

PLACEHOLDER_SECRETS = frozenset(
    {"", "dev", "development", "secret", "changeme", "change-me", "please-change-me",
     "secret-key", "your-secret-key", "you-will-never-guess", "hard to guess string",
     "super-secret", "not-secret"}
)
MIN_SECRET_LENGTH = 16
# Trusted proxy hops per forwarded header, as Werkzeug's ProxyFix takes them (x_for=..., ...).
PROXY_FIX_KEYS = {"PROXY_FIX_X_FOR": "x_for", "PROXY_FIX_X_PROTO": "x_proto", "PROXY_FIX_X_HOST": "x_host",
                  "PROXY_FIX_X_PORT": "x_port", "PROXY_FIX_X_PREFIX": "x_prefix"}


class ConfigError(RuntimeError):
    """Start-up cannot continue because the configuration is unusable."""


def parse_bool(value: str) -> bool:
    """Read a boolean the way operators write one: 1/0, true/false, yes/no, on/off."""
    text = value.strip().lower()
    if text in {"1", "true", "yes", "on", "y", "t"}:
        return True
    if text in {"0", "false", "no", "off", "n", "f", ""}:
        return False
    raise ConfigError(f"not a boolean: {value!r} (use 1/0, true/false or yes/no)")


def parse_int(value: str) -> int:
    """Read a whole number, naming the bad value when it is not one."""
    try:
        return int(value.strip())
    except ValueError:
        raise ConfigError(f"not a whole number: {value!r}") from None


def parse_optional_int(value: str) -> int | None:
    """Read a whole number where an empty value means 'not set'."""
    return None if value.strip() == "" else parse_int(value)


def parse_list(value: str) -> list[str]:
    """Read a comma-separated list, dropping blanks."""
    return [item.strip() for item in value.split(",") if item.strip()]


def parse_str(value: str) -> str:
    """Keep a string as it is."""
    return value


def parse_optional_str(value: str) -> str | None:
    """Read a string where an empty value means 'not set'."""
    return value or None


# Every key read from the environment, with its parser.
ENV_KEYS: dict[str, Callable[[str], Any]] = {
    "MAILROOM_ENV": parse_str,
    "SECRET_KEY": parse_str,
    "DATABASE_URL": parse_str,
    "REDIS_URL": parse_optional_str,
    "REDIS_KEY_PREFIX": parse_str,
    "SERVER_NAME": parse_optional_str,
    "PREFERRED_URL_SCHEME": parse_str,
    "ADMINS": parse_list,
    "MAIL_SERVER": parse_optional_str,
    "MAIL_PORT": parse_int,
    "MAIL_USE_TLS": parse_bool,
    "MAIL_USE_SSL": parse_bool,
    "MAIL_DEBUG": parse_bool,
    "MAIL_USERNAME": parse_optional_str,
    "MAIL_PASSWORD": parse_optional_str,
    "MAIL_DEFAULT_SENDER": parse_optional_str,
    "MAIL_MAX_EMAILS": parse_optional_int,
    "MAIL_SUPPRESS_SEND": parse_bool,
    "MAIL_ASCII_ATTACHMENTS": parse_bool,
    "MAIL_TIMEOUT": parse_int,
    "MAIL_SSL_CAFILE": parse_optional_str,
    "MAIL_WORKER_INPROCESS": parse_bool,
    "MAIL_DEV_MAILBOX": parse_bool,
    "MAILROOM_DATABASE_URL": parse_optional_str,
    "MAIL_CONNECTIONS": parse_int,
    "MAIL_RESERVED_CONNECTIONS": parse_int,
    "MAIL_METRICS_PORT": parse_optional_int,
    "MAIL_METRICS_HOST": parse_str,
    "MAIL_VACUUM_DEAD_ROWS": parse_int,
    "MAIL_VACUUM_INTERVAL": parse_int,
    "MAIL_RATE_LIMIT": parse_optional_str,
    "OUTBOX_MAX_THROTTLES": parse_int,
    "OUTBOX_MAX_ATTEMPTS": parse_int,
    "OUTBOX_BACKOFF_BASE": parse_int,
    "OUTBOX_BACKOFF_MAX": parse_int,
    "OUTBOX_CLAIM_TTL": parse_int,
    "OUTBOX_BATCH_SIZE": parse_int,
    "OUTBOX_RETENTION_DAYS": parse_int,
    "OUTBOX_PURGE_INTERVAL": parse_int,
    "RESET_TOKEN_TTL": parse_int,
    "EMAIL_CODE_TTL": parse_int,
    "EMAIL_CODE_MAX_ATTEMPTS": parse_int,
    "EMAIL_CODE_RESEND_COOLDOWN": parse_int,
    "SIGNIN_CODE_TTL": parse_int,
    "SIGNIN_CODE_MAX_ATTEMPTS": parse_int,
    "EMAIL_REVERT_TTL": parse_int,
    "ACCOUNT_EMAILS_PER_HOUR": parse_int,
    "RATELIMIT_RESET_PER_ADDRESS": parse_str,
    "RATELIMIT_RESET_PER_CLIENT": parse_str,
    "RATELIMIT_SIGNIN_CODE_PER_ADDRESS": parse_str,
    "RATELIMIT_SIGNIN_CODE_PER_CLIENT": parse_str,
    "RATELIMIT_ENABLED": parse_bool,
    "ERROR_EMAIL_INTERVAL": parse_int,
    "PASSWORD_HASH_METHOD": parse_str,
    "MAIL_SMTPUTF8": parse_bool,
    "SESSION_IDLE_TIMEOUT": parse_int,
    "REMEMBER_COOKIE_DURATION": parse_int,
    "SIGNIN_FREE_FAILURES": parse_int,
    "SIGNIN_DELAY_BASE": parse_int,
    "SIGNIN_DELAY_MAX": parse_int,
    "SIGNIN_CLIENT_LOCKOUT_AFTER": parse_int,
    "SIGNIN_ACCOUNT_LOCKOUT_AFTER": parse_int,
    "SIGNIN_LOCKOUT": parse_int,
    "SIGNIN_WINDOW": parse_int,
    "MAX_JSON_DEPTH": parse_int,
    "MAIL_FEEDBACK_ID": parse_optional_str,
    "MAIL_SOFT_BOUNCE_LIMIT": parse_int,
    "MAIL_SOFT_BOUNCE_DAYS": parse_int,
    "MAIL_BOUNCE_ADDRESS": parse_optional_str,
    "MAIL_BOUNCES_URL": parse_optional_str,
    "MAIL_EVENTS_GENERIC_SECRET": parse_optional_str,
    "MAIL_EVENTS_MAILGUN_SIGNING_KEY": parse_optional_str,
    "MAIL_EVENTS_SES_TOPIC_ARNS": parse_list,
    "MAIL_EVENTS_SES_CERTS": parse_optional_str,
    "SWEEP_INTERVAL": parse_int,
    **{key: parse_int for key in PROXY_FIX_KEYS},
}


def defaults() -> dict[str, Any]:
    """The documented defaults, before environment and factory mapping."""
    return {
        "MAILROOM_ENV": DEVELOPMENT,
        "SECRET_KEY": None,
        "DATABASE_URL": None,
        "REDIS_URL": None,
        "REDIS_KEY_PREFIX": "mailroom:",
        "SERVER_NAME": None,
        "PREFERRED_URL_SCHEME": "http",
        "ADMINS": [],
        # The mail settings Mailroom decides or reads before the mail extension starts; every
        # other mail key (MAIL_TIMEOUT, MAIL_SSL_CAFILE, the deliverability keys, ...) gets its
        # default from the extension's registry, flask_mailroom.settings.SETTINGS, at init_app.
        # MAIL_SERVER None means "not configured"; None for a switch means "follow the mode".
        "MAIL_SERVER": None,
        "MAIL_PORT": 25,
        "MAIL_USE_TLS": False,
        "MAIL_USE_SSL": False,
        "MAIL_DEBUG": None,
        "MAIL_DEFAULT_SENDER": "Mailroom <noreply@localhost>",
        "MAIL_MAX_EMAILS": None,
        "MAIL_SUPPRESS_SEND": None,
        "MAIL_WORKER_INPROCESS": None,
        "MAIL_DEV_MAILBOX": None,
        # The mail extension's dev mailbox pages in Mailroom's own layout.
        "MAIL_DEV_MAILBOX_LAYOUT": "base.html",
        # The outbox's retries and retention, as the mail extension defines them.
        **OUTBOX_DEFAULTS,
        # Flows.
        "RESET_TOKEN_TTL": 600,
        "EMAIL_CODE_TTL": 600,
        "EMAIL_CODE_MAX_ATTEMPTS": 5,
        "EMAIL_CODE_RESEND_COOLDOWN": 60,
        # Sign-in codes (sign-in by emailed code, and the new-browser check): seconds and tries.
        "SIGNIN_CODE_TTL": 300,
        "SIGNIN_CODE_MAX_ATTEMPTS": 3,
        "EMAIL_REVERT_TTL": 7 * 24 * 3600,
        "ACCOUNT_EMAILS_PER_HOUR": 10,
        "RATELIMIT_RESET_PER_ADDRESS": "5 per hour",
        "RATELIMIT_RESET_PER_CLIENT": "20 per minute",
        "RATELIMIT_SIGNIN_CODE_PER_ADDRESS": "5 per hour",
        "RATELIMIT_SIGNIN_CODE_PER_CLIENT": "20 per minute",
        "RATELIMIT_ENABLED": True,
        "ERROR_EMAIL_INTERVAL": 300,
        "PASSWORD_HASH_METHOD": "scrypt",
        # Addresses with a non-ASCII local part need a relay that speaks SMTPUTF8.
        "MAIL_SMTPUTF8": False,
        # Accounts under attack.
        "SESSION_IDLE_TIMEOUT": 14 * 24 * 3600,
        "REMEMBER_COOKIE_DURATION": 30 * 24 * 3600,
        "SIGNIN_FREE_FAILURES": 5,
        "SIGNIN_DELAY_BASE": 2,
        "SIGNIN_DELAY_MAX": 60,
        "SIGNIN_CLIENT_LOCKOUT_AFTER": 20,
        "SIGNIN_ACCOUNT_LOCKOUT_AFTER": 10,
        "SIGNIN_LOCKOUT": 900,
        "SIGNIN_WINDOW": 3600,
        "MAX_JSON_DEPTH": 20,
        # Seconds between sweeps of expired sessions and reset handoffs by a web process (0: never;
        # then run `flask users sweep` from cron).
        "SWEEP_INTERVAL": 600,
        # Web: how many proxies in front set each X-Forwarded-* header (0: trust none).
        **dict.fromkeys(PROXY_FIX_KEYS, 0),
        "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
        "MAX_FORM_MEMORY_SIZE": 1024 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,
        # Reset pages send Referrer-Policy: no-referrer, so HTTPS form posts carry no Referer;
        # the token plus SameSite=Lax cookies is the protection.
        "WTF_CSRF_SSL_STRICT": False,
        "BOOTSTRAP_SERVE_LOCAL": True,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
    }


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """Parse the known keys present in the environment, naming the key on a bad value."""
    parsed: dict[str, Any] = {}
    for key, parse in ENV_KEYS.items():
        if key in environ:
            try:
                parsed[key] = parse(environ[key])
            except ConfigError as error:
                raise ConfigError(f"{key}: {error}") from None
    return parsed


def database_uri(url: str | None, instance_path: str) -> str:
    """Turn DATABASE_URL into a SQLAlchemy URI, defaulting to SQLite in the instance folder."""
    if not url:
        return "sqlite:///" + str(Path(instance_path) / "mailroom.sqlite3")
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def development_secret(instance_path: str) -> str:
    """A random key kept in the instance folder, so development sessions survive restarts."""
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def check_secret(key: object) -> None:
    """Refuse to start outside development without a real secret key."""
    if not isinstance(key, str) or not key.strip():
        raise ConfigError(
            "SECRET_KEY is not set: outside development Mailroom needs a random secret "
            "(for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    if key.strip().lower() in PLACEHOLDER_SECRETS or len(key) < MIN_SECRET_LENGTH:
        raise ConfigError(
            "SECRET_KEY is a placeholder or too short: set a random value of at least "
            f"{MIN_SECRET_LENGTH} characters"
        )


def _secrets_and_mode(config: dict[str, Any], instance_path: str) -> None:
    """Check the mode, then generate (development) or demand (elsewhere) the secret key."""
    mode = config["MAILROOM_ENV"]
    if mode not in MODES:
        raise ConfigError(f"MAILROOM_ENV must be one of {', '.join(MODES)}, not {mode!r}")
    config["TESTING"] = mode == TESTING or bool(config.get("TESTING"))
    if mode == DEVELOPMENT and not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = development_secret(instance_path)
    elif mode != DEVELOPMENT:
        check_secret(config.get("SECRET_KEY"))
    if not config["SERVER_NAME"] and mode == PRODUCTION:
        raise ConfigError(
            "SERVER_NAME is not set: links in emails are built from it, never from the "
            "request's Host header (for example SERVER_NAME=mail.example.com)"
        )


def _mail(config: dict[str, Any]) -> None:
    """Flask-Mail's derived defaults, and which transport delivers (dev mailbox or SMTP)."""
    development = config["MAILROOM_ENV"] == DEVELOPMENT
    if config["MAIL_DEBUG"] is None:
        config["MAIL_DEBUG"] = False
    if config["MAIL_SUPPRESS_SEND"] is None:
        config["MAIL_SUPPRESS_SEND"] = config["TESTING"]
    if config["MAIL_WORKER_INPROCESS"] is None:
        config["MAIL_WORKER_INPROCESS"] = development
    if config["MAIL_DEV_MAILBOX"] is None:
        config["MAIL_DEV_MAILBOX"] = development
    elif config["MAIL_DEV_MAILBOX"] and not development:
        raise ConfigError("MAIL_DEV_MAILBOX shows every message in the browser: development only")
    config["MAIL_TRANSPORT"] = config.get("MAIL_TRANSPORT") or (
        "devmail" if development and not config["MAIL_SERVER"] else "smtp"
    )
    if not config["MAIL_SERVER"]:
        config["MAIL_SERVER"] = "localhost"
    if config["MAIL_USE_TLS"] and config["MAIL_USE_SSL"]:
        raise ConfigError("MAIL_USE_TLS and MAIL_USE_SSL cannot both be true")
    if config["OUTBOX_RETENTION_DAYS"] < 0:
        raise ConfigError("OUTBOX_RETENTION_DAYS must be 0 or more (days a sent message keeps its body)")
    _delivery(config)


def _delivery(config: dict[str, Any]) -> DeliverySettings:
    """The delivery engine's settings (the mail extension's defaults), naming the one that is wrong."""
    try:
        return DeliverySettings.of(config)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def _web(config: dict[str, Any], instance_path: str) -> None:
    """The database URI, rate-limit storage and cookie flags that follow from other settings."""
    if not config.get("SQLALCHEMY_DATABASE_URI"):
        config["SQLALCHEMY_DATABASE_URI"] = database_uri(config["DATABASE_URL"], instance_path)
    if str(config["SQLALCHEMY_DATABASE_URI"]).startswith("postgresql"):
        # Each SMTP connection and each preparer of a worker uses a database connection of its
        # own, beside the outcome writer and the heartbeat: keep that many open in the pool, since
        # an overflow connection is closed when given back and a new one costs PostgreSQL a process.
        options = dict(config["SQLALCHEMY_ENGINE_OPTIONS"])
        options.setdefault("pool_size", _delivery(config).database_connections)
        options.setdefault("max_overflow", 10)
        config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    config.setdefault("RATELIMIT_STORAGE_URI", config["REDIS_URL"] or "memory://")
    config.setdefault("RATELIMIT_KEY_PREFIX", config["REDIS_KEY_PREFIX"] + "limits")
    config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    config.setdefault("RATELIMIT_HEADERS_ENABLED", False)
    secure = config["PREFERRED_URL_SCHEME"] == "https" and config["MAILROOM_ENV"] != DEVELOPMENT
    config.setdefault("SESSION_COOKIE_SECURE", secure)
    config.setdefault("REMEMBER_COOKIE_SECURE", secure)


def _whole_number(config: Mapping[str, Any], key: str, meaning: str) -> None:
    """Refuse a setting that is not a whole number of 0 or more, saying what it counts."""
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{key} must be {meaning} (a whole number, 0 or more), not {value!r}")


def _proxies_and_sweeps(config: dict[str, Any]) -> None:
    """Check the trusted proxy hops and the sweep interval."""
    for key in PROXY_FIX_KEYS:
        _whole_number(config, key, "the number of proxies in front that set this header (0 trusts none)")
    _whole_number(config, "SWEEP_INTERVAL", "seconds between a web process's sweeps (0: never)")


def proxy_fix_hops(config: Mapping[str, Any]) -> dict[str, int]:
    """ProxyFix's keyword arguments for the configured hops, or nothing when no proxy is trusted."""
    hops = {argument: int(config[key]) for key, argument in PROXY_FIX_KEYS.items()}
    return hops if any(hops.values()) else {}


def finish(config: dict[str, Any], instance_path: str) -> dict[str, Any]:
    """Derive the settings that depend on others and check what must hold before start-up."""
    _secrets_and_mode(config, instance_path)
    _mail(config)
    _web(config, instance_path)
    _proxies_and_sweeps(config)
    return config


def load(mapping: Mapping[str, Any] | None, environ: Mapping[str, str],
         instance_path: str) -> dict[str, Any]:
    """Build the whole configuration: defaults, then environment, then the mapping."""
    config = defaults()
    config.update(from_environment(environ))
    config.update(mapping or {})
    return finish(config, instance_path)


def instance_folder(environ: Mapping[str, str], package_dir: Path) -> str | None:
    """MAILROOM_INSTANCE_PATH, else ``instance/`` of the checkout when running from source, else
    None (Flask's default for an installed package: ``<prefix>/var/mailroom-instance``)."""
    configured = environ.get("MAILROOM_INSTANCE_PATH", "").strip()
    if configured:
        return str(Path(configured).expanduser().resolve())
    checkout = package_dir.resolve().parents[1]
    if (checkout / "pyproject.toml").is_file() and package_dir.resolve().parent.name == "src":
        return str(checkout / "instance")
    return None


def environment() -> Mapping[str, str]:
    """The process environment, as a seam for tests."""
    return os.environ
