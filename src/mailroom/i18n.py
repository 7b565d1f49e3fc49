"""Languages on the web: which locale and time zone a page uses, and localised formatting helpers.

A page follows the signed-in person's stored language, then a visitor's menu choice (a cookie),
then the browser's ``Accept-Language`` (mapped explicitly by ``domain.languages``), then English.
Emails never use this: they are rendered in their recipient's stored language (``mail.locale``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from babel.dates import format_date, format_datetime, format_time, get_datetime_format, get_timezone_name
from flask import Flask, has_request_context, request
from flask_babel import format_timedelta, get_locale, get_timezone, gettext, ngettext
from flask_login import current_user
from flask_mailroom import i18n as mail_i18n
from flask_mailroom.compose import rendering_timezone
from werkzeug.wrappers import Response

from mailroom.domain.errors import DomainError
from mailroom.domain.languages import (
    DEFAULT_LOCALE,
    DEFAULT_TIMEZONE,
    HTML_LANG,
    LOCALES,
    NATIVE_NAMES,
    known_locale,
    known_timezone,
    negotiate,
    timezone_names,
)
from mailroom.extensions import babel

DateFormat = Literal["full", "long", "medium", "short"]
LANGUAGE_COOKIE = "mailroom_language"
COOKIE_AGE = 365 * 24 * 3600
TRANSLATIONS = "translations"


def browser_locale() -> str | None:
    """The locale the browser's Accept-Language asks for, when Mailroom speaks one of its tags."""
    return negotiate(request.accept_languages) if has_request_context() else None


def visitor_locale() -> str:
    """A visitor's language: the menu's cookie, then the browser, then English."""
    chosen = known_locale(request.cookies.get(LANGUAGE_COOKIE)) if has_request_context() else None
    return chosen or browser_locale() or DEFAULT_LOCALE


def select_locale() -> str:
    """The page's locale: the signed-in person's stored choice, else the visitor's."""
    if not has_request_context():
        return DEFAULT_LOCALE
    stored = known_locale(getattr(current_user, "language", None))
    return stored or visitor_locale()


def select_timezone() -> str:
    """The email's recipient's zone while one is rendered, else the signed-in person's, else UTC."""
    rendering = rendering_timezone()
    if rendering is not None or not has_request_context():
        return known_timezone(rendering) or DEFAULT_TIMEZONE
    return known_timezone(getattr(current_user, "timezone", None)) or DEFAULT_TIMEZONE


def current_locale() -> str:
    """The locale in force (a request's, or the one an email is being rendered in)."""
    found = get_locale()
    return str(found) if found is not None and str(found) in LOCALES else DEFAULT_LOCALE


def html_lang() -> str:
    """The page's or email's ``lang`` attribute (BCP 47: en, zh-Hans, zh-Hant)."""
    return HTML_LANG[current_locale()]


def remember_choice(response: Response, locale: str) -> Response:
    """Keep a visitor's menu choice in a cookie for a year."""
    response.set_cookie(LANGUAGE_COOKIE, locale, max_age=COOKIE_AGE, httponly=True, samesite="Lax",
                        secure=request.is_secure)
    return response


def duration(seconds: int | float) -> str:
    """A lifetime for people in the current locale ("10 minutes", "10分钟", "10 分鐘")."""
    return str(format_timedelta(timedelta(seconds=seconds), threshold=1, add_direction=False))


def zoned(moment: datetime, date_format: DateFormat = "medium") -> str:
    """A moment to the minute in the current time zone and locale, with the zone named
    ("Mar 2, 2026, 5:00 PM (Taipei Standard Time)", or in Traditional Chinese with full-width brackets)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    zone, locale = get_timezone(), get_locale()
    local = moment.astimezone(zone)
    day = format_date(local.date(), date_format, locale=locale)
    hour = format_time(local, "short", tzinfo=zone, locale=locale)
    pattern = str(get_datetime_format(date_format, locale=locale)).replace("'", "")
    when = pattern.replace("{0}", hour).replace("{1}", day)
    name = get_timezone_name(local, width="long", locale=locale)
    return _("%(time)s (%(zone)s)", time=when, zone=name)


def local_time(moment: datetime, pattern: str = "yyyy-MM-dd HH:mm:ss") -> str:
    """A moment as digits in the current time zone (tables and charts name the zone in a heading)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return str(format_datetime(moment, pattern, tzinfo=get_timezone(), locale=get_locale()))


def _(message: str, **params: object) -> str:
    """``message`` in the current language, its ``%(name)s`` placeholders filled from ``params``."""
    return str(gettext(message, **params))


def _n(singular: str, plural: str, count: int, **params: object) -> str:
    """The singular or plural message for ``count`` in the current language (``%(num)d`` is the count)."""
    return str(ngettext(singular, plural, count, **params))


def explain(error: DomainError) -> str:
    """A domain error's message in the current language."""
    return _(error.message, **error.params) if error.message else str(error)


def zone_name() -> str:
    """The long name of the current time zone ("Coordinated Universal Time", "台北標準時間")."""
    return str(get_timezone_name(datetime.now(UTC).astimezone(get_timezone()), width="long",
                                 locale=get_locale()))


def template_helpers() -> dict[str, Any]:
    """What every template may use to speak the current language."""
    return {"html_lang": html_lang, "current_locale": current_locale, "LANGUAGES": NATIVE_NAMES,
            "duration": duration, "zoned": zoned, "local_time": local_time, "timezone_names": timezone_names,
            "zone_name": zone_name}


def init_app(app: Flask) -> None:
    """Bind Flask-Babel with our catalogue (after Flask-Mailroom's, for its timeline labels) and selectors."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", DEFAULT_TIMEZONE)
    # Pages show the mail core's timeline labels with _(): its domain is read too, ours last (it wins).
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", f"{mail_i18n.TRANSLATIONS};{TRANSLATIONS}")
    app.config.setdefault("BABEL_DOMAIN", f"{mail_i18n.DOMAIN};messages")
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    # Whitespace inside {% trans %} is collapsed, so msgids do not depend on how a template wraps.
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.jinja_env.globals.update(template_helpers())
    app.jinja_env.filters.update(duration=duration, zoned=zoned)
