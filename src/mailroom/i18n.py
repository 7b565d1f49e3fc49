"""Languages on the web: which locale and time zone a page uses, and localised formatting helpers.

A page follows the signed-in person's stored language, then a visitor's menu choice (a cookie),
then the browser's ``Accept-Language`` (mapped explicitly by ``domain.languages``), then English.
Emails never use this: they are rendered in their recipient's stored language (``mail.locale``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import (
    format_date,
    format_datetime,
    format_time,
    format_timedelta,
    get_datetime_format,
    get_timezone_gmt,
    get_timezone_location,
)
from babel.lists import format_list
from babel.units import format_unit
from flask import Flask, has_request_context, request
from flask_babel import get_locale, get_timezone, gettext, ngettext
from flask_login import current_user
from flask_mailroom import i18n as mail_i18n
from flask_mailroom.compose import rendering_timezone
from werkzeug.wrappers import Response

from mailroom.domain.errors import N_, DomainError
from mailroom.domain.languages import (
    DEFAULT_LOCALE,
    DEFAULT_TIMEZONE,
    HTML_LANG,
    LOCALES,
    NATIVE_NAMES,
    canonical_zone,
    canonical_zones,
    known_locale,
    known_timezone,
    negotiate,
    timezone_names,
)
from mailroom.domain.waits import wait_parts
from mailroom.extensions import babel

DateFormat = Literal["full", "long", "medium", "short"]
# A space between a digit and a Han character: CLDR's Traditional units have one ("9 分鐘"); our
# Chinese text writes numbers against the words ("9分鐘"), as waits.js does.
CJK_SPACE = re.compile(r"(?<=\d) (?=[\u4e00-\u9fff])|(?<=[\u4e00-\u9fff]) (?=\d)")
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
    return _duration_in(seconds, get_locale())


@lru_cache(maxsize=256)
def _duration_in(seconds: int | float, locale: Locale | None) -> str:
    """``duration`` in ``locale``, worded once per lifetime and language (every account email
    says how long its link works)."""
    return str(format_timedelta(timedelta(seconds=seconds), threshold=1, add_direction=False,
                                locale=locale))


def wait(seconds: float) -> str:
    """A wait in the current locale, worded as static/js/waits.js words it ("9 min, 59 sec", "9分钟59秒").

    CLDR's short units joined as a unit list are what ``Intl.DurationFormat`` writes, so the first
    render and the ticking text agree."""
    locale = get_locale() or DEFAULT_LOCALE
    words = [format_unit(n, f"duration-{unit}", "short", locale=locale) for unit, n in wait_parts(seconds)]
    told = str(format_list(words, style="unit-short", locale=locale))
    return CJK_SPACE.sub("", told) if str(locale).startswith("zh") else told


def zoned(moment: datetime, date_format: DateFormat = "medium") -> str:
    """A moment to the minute in the current time zone and locale, with the zone's short name
    ("Mar 2, 2026, 5:00 PM (GMT+8)", in Chinese with full-width brackets): one style for pages and emails."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    zone, locale = get_timezone(), get_locale()
    local = moment.astimezone(zone)
    day = format_date(local.date(), date_format, locale=locale)
    hour = format_time(local, "short", tzinfo=zone, locale=locale)
    pattern = str(get_datetime_format(date_format, locale=locale)).replace("'", "")
    when = pattern.replace("{0}", hour).replace("{1}", day)
    return _("%(time)s (%(zone)s)", time=when, zone=zone_short_name(local))


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


def zone_short_name(local: datetime) -> str:
    """A zone's short name at a moment, the same in every language: "UTC", else its offset ("GMT+8",
    "GMT+5:30", "GMT" in London's winter); abbreviations like CST name several zones."""
    offset = local.utcoffset() or timedelta()
    if str(local.tzinfo) == DEFAULT_TIMEZONE:
        return DEFAULT_TIMEZONE
    minutes = int(offset.total_seconds() // 60)
    if not minutes:
        return "GMT"
    hours, rest = divmod(abs(minutes), 60)
    return f"GMT{'+' if minutes > 0 else '-'}{hours}{f':{rest:02d}' if rest else ''}"


def zone_name() -> str:
    """The short name of the current time zone now ("UTC", "GMT+8"), for headings of times."""
    return zone_short_name(datetime.now(UTC).astimezone(get_timezone()))


# The regions of the tz database's zone names, as the time zone menu groups them.
REGIONS = {"Africa": N_("Africa"), "America": N_("Americas"), "Antarctica": N_("Antarctica"),
           "Arctic": N_("Arctic"), "Asia": N_("Asia"), "Atlantic": N_("Atlantic Ocean"),
           "Australia": N_("Australia"), "Europe": N_("Europe"), "Indian": N_("Indian Ocean"),
           "Pacific": N_("Pacific Ocean")}
ZoneChoice = tuple[str, str]


def timezone_choices() -> list[tuple[str, list[ZoneChoice]]]:
    """The time zone menu in the current locale: UTC, then each region's places as
    ``(GMT+08:00) Taipei, Taiwan``, by offset then name (the value stays the IANA id)."""
    locale = str(get_locale() or DEFAULT_LOCALE)
    return _zone_menu(locale, datetime.now(UTC).date().isoformat())


@cache
def _zone_menu(locale: str, day: str) -> list[tuple[str, list[ZoneChoice]]]:
    """The menu for one locale on one day (offsets move with summer time), built once."""
    now = datetime.fromisoformat(day).replace(tzinfo=UTC)
    groups: dict[str, list[tuple[timedelta, str, str]]] = {}
    for zone, country in canonical_zones().items():
        local = now.astimezone(ZoneInfo(zone))
        groups.setdefault(zone.split("/")[0], []).append(
            (local.utcoffset() or timedelta(), _zone_label(zone, country, local, locale), zone))
    utc = [(DEFAULT_TIMEZONE, _("Coordinated Universal Time (UTC)"))]
    places = [(_(REGIONS.get(region, region)), [(zone, label) for _offset, label, zone in sorted(rows)])
              for region, rows in sorted(groups.items())]
    return [("", utc), *places]


def _zone_label(zone: str, country: str, local: datetime, locale: str) -> str:
    """One place in the menu: its offset now, its city and its country, in ``locale``."""
    offset = get_timezone_gmt(local, "long", locale=locale)
    city = get_timezone_location(zone, locale=locale, return_city=True)
    place = Locale.parse(locale).territories.get(country, "")
    if not place or place == city:
        return _("(%(offset)s) %(city)s", offset=offset, city=city)
    return _("(%(offset)s) %(city)s, %(country)s", offset=offset, city=city, country=place)


def timezone_listed(zone: str | None) -> bool:
    """Whether the time zone menu offers ``zone`` or the place it is an old alias of (an alias of no
    listed place still works, but is shown apart)."""
    return zone == DEFAULT_TIMEZONE or canonical_zone(zone) in canonical_zones()


def template_helpers() -> dict[str, Any]:
    """What every template may use to speak the current language."""
    return {"html_lang": html_lang, "current_locale": current_locale, "LANGUAGES": NATIVE_NAMES,
            "duration": duration, "wait": wait, "zoned": zoned, "local_time": local_time,
            "timezone_names": timezone_names, "timezone_choices": timezone_choices,
            "timezone_listed": timezone_listed, "canonical_zone": canonical_zone,
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
    app.jinja_env.filters.update(duration=duration, wait=wait, zoned=zoned)
