"""The package's own catalogue: the ``flask_mailroom`` domain (en, zh_Hans, zh_Hant) in ``translations/``.

When the host uses Flask-Babel (``app.extensions["babel"]``), the package's strings are read from
this domain in the locale the host selects, through Flask-Babel's ``Domain``; a string the domain
lacks is looked up in the host's own catalogue, so a host layout that the dev mailbox's pages
extend keeps its translations. Without Flask-Babel (the ``Flask-Mailroom[babel]`` extra) everything
reads in English, and flask_babel is never imported. Dates and numbers follow the same rule.

A host shows the package's strings on its own pages (a timeline's ``Entry.what``) with
``gettext(label)`` here, or reads this domain in its default one with Flask-Babel's settings:
``BABEL_TRANSLATION_DIRECTORIES = f"{TRANSLATIONS};translations"``, ``BABEL_DOMAIN =
"flask_mailroom;messages"``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import current_app, has_app_context
from jinja2.nodes import EvalContext
from jinja2.utils import pass_eval_context
from markupsafe import Markup

if TYPE_CHECKING:
    from babel.support import NullTranslations
    from flask_babel import Domain

__all__ = ["DOMAIN", "TRANSLATIONS", "domain", "format_datetime", "format_decimal", "format_number",
           "gettext", "html_lang", "ngettext", "template_functions", "zone_name", "zoned"]

TRANSLATIONS = Path(__file__).parent / "translations"
DOMAIN = "flask_mailroom"


def babel_in_use() -> bool:
    """Whether the current application uses Flask-Babel (outside an application: no)."""
    return has_app_context() and "babel" in current_app.extensions


@cache
def domain() -> Domain:
    """The package's Flask-Babel domain (created on first use: needs the babel extra)."""
    from flask_babel import Domain

    return Domain(translation_directories=str(TRANSLATIONS), domain=DOMAIN)


def _own() -> NullTranslations | None:
    """The package's catalogue in the current locale; None without Flask-Babel."""
    return domain().get_translations() if babel_in_use() else None


def _host() -> NullTranslations:
    """The host's own catalogue (Flask-Babel's default domain) in the current locale."""
    from flask_babel import get_translations

    found: NullTranslations = get_translations()
    return found


def _translate(message: str) -> str:
    """``message`` from the package's catalogue, else the host's, else as written."""
    own = _own()
    if own is None:
        return message
    text = str(own.ugettext(message))
    return text if text != message else str(_host().ugettext(message))


def _translate_plural(singular: str, plural: str, num: int) -> str:
    """The form of ``singular``/``plural`` for ``num`` from the package's catalogue, else the host's."""
    english = singular if num == 1 else plural
    own = _own()
    if own is None:
        return english
    text = str(own.ungettext(singular, plural, num))
    return text if text != english else str(_host().ungettext(singular, plural, num))


def gettext(message: str, **params: Any) -> str:
    """``message`` in the current language, its ``%(name)s`` placeholders filled from ``params``."""
    text = _translate(message)
    return text % params if params else text


def ngettext(singular: str, plural: str, num: int, **params: Any) -> str:
    """The form for ``num`` in the current language (``%(num)d`` is the count)."""
    params.setdefault("num", num)
    return _translate_plural(singular, plural, num) % params


@pass_eval_context
def template_gettext(context: EvalContext, message: str, **params: Any) -> str:
    """``gettext`` for templates, as Jinja's newstyle gettext: placeholders escaped when autoescaping."""
    text = _translate(message)
    # The msgid and its translation are the package's own (trusted); the values are escaped.
    return Markup(text) % params if context.autoescape else text % params  # noqa: S704


@pass_eval_context
def template_ngettext(context: EvalContext, singular: str, plural: str, num: int, **params: Any) -> str:
    """``ngettext`` for templates, as Jinja's newstyle ngettext."""
    params.setdefault("num", num)
    text = _translate_plural(singular, plural, num)
    return Markup(text) % params if context.autoescape else text % params  # noqa: S704


def _aware(moment: datetime) -> datetime:
    """A stored moment with its zone (the mail tables keep UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def format_datetime(moment: datetime, form: str = "medium") -> str:
    """A moment in the current locale and time zone (Babel's ``form``), or as UTC digits in English."""
    if not babel_in_use():
        return _aware(moment).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    from flask_babel import format_datetime as babel_datetime

    return str(babel_datetime(_aware(moment), form))


def format_number(value: int) -> str:
    """A whole number with the current locale's grouping ("104,448")."""
    if not babel_in_use():
        return f"{value:,}"
    from flask_babel import format_number as babel_number

    return str(babel_number(value))


def format_decimal(value: float) -> str:
    """A decimal number in the current locale's notation ("102.4")."""
    if not babel_in_use():
        return str(value)
    from flask_babel import format_decimal as babel_decimal

    return str(babel_decimal(value))


def _short_zone(local: datetime) -> str:
    """A zone's short name at a moment, the same in every language: "UTC", else its offset ("GMT+8",
    "GMT+5:30", "GMT" in London's winter), as abbreviations like CST name several zones."""
    if str(local.tzinfo) == "UTC":
        return "UTC"
    minutes = int((local.utcoffset() or timedelta()).total_seconds() // 60)
    if not minutes:
        return "GMT"
    hours, rest = divmod(abs(minutes), 60)
    return f"GMT{'+' if minutes > 0 else '-'}{hours}{f':{rest:02d}' if rest else ''}"


def zone_name(moment: datetime | None = None) -> str:
    """The short name of the current time zone at ``moment`` (default now): "UTC", "GMT+8"."""
    if not babel_in_use():
        return "UTC"
    from flask_babel import get_timezone

    return _short_zone(_aware(moment or datetime.now(UTC)).astimezone(get_timezone()))


def zoned(moment: datetime) -> str:
    """A moment in the current locale and time zone, then the zone's short name in brackets
    ("Mar 2, 2026, 5:00:07 PM (GMT+8)"; full-width brackets in Chinese)."""
    return gettext("%(time)s (%(zone)s)", time=format_datetime(moment), zone=zone_name(moment))


def html_lang() -> str:
    """The current locale as an HTML ``lang`` value (BCP 47: ``zh-Hant``), "en" without Flask-Babel."""
    if not babel_in_use():
        return "en"
    from flask_babel import get_locale

    found = get_locale()
    return str(found).replace("_", "-") if found is not None else "en"


def template_functions() -> dict[str, Callable[..., str]]:
    """What the package's templates call: gettext bound to the package's domain, and formatters
    (for a blueprint's context processor: nothing is added to the host's Jinja environment)."""
    return {"_": template_gettext, "gettext": template_gettext, "ngettext": template_ngettext,
            "mail_datetime": format_datetime, "mail_number": format_number, "mail_decimal": format_decimal,
            "mail_zoned": zoned, "mail_zone_name": zone_name, "mail_lang": html_lang}
