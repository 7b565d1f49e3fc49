"""Which of Mailroom's languages a person reads, from a stored choice or a browser's language tags.

Browsers send BCP 47 tags (``zh-TW``, ``zh-Hant-HK``, ``zh-CN``); Mailroom speaks three locales
(``en``, ``zh_Hans``, ``zh_Hant``). The mapping is explicit: Chinese written in Taiwan, Hong Kong
and Macau, or tagged Hant, is Traditional; any other Chinese is Simplified.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path
from zoneinfo import TZPATH, ZoneInfo, ZoneInfoNotFoundError, available_timezones

ENGLISH = "en"
SIMPLIFIED = "zh_Hans"
TRADITIONAL = "zh_Hant"
LOCALES = (ENGLISH, SIMPLIFIED, TRADITIONAL)
DEFAULT_LOCALE = ENGLISH
# Each language named in itself, for menus that must be readable whatever the page's language.
NATIVE_NAMES = {ENGLISH: "English", SIMPLIFIED: "简体中文", TRADITIONAL: "繁體中文"}
# The value of an HTML lang attribute (BCP 47) for each locale.
HTML_LANG = {ENGLISH: "en", SIMPLIFIED: "zh-Hans", TRADITIONAL: "zh-Hant"}
TRADITIONAL_REGIONS = frozenset({"tw", "hk", "mo"})
DEFAULT_TIMEZONE = "UTC"
TIMEZONE_MAX = 64


def locale_for_tag(tag: str) -> str | None:
    """The locale a browser language tag asks for, or None when Mailroom does not speak it."""
    parts = [part.lower() for part in tag.strip().replace("_", "-").split("-") if part]
    if not parts:
        return None
    if parts[0] == "en":
        return ENGLISH
    if parts[0] != "zh":
        return None
    if "hant" in parts[1:] or TRADITIONAL_REGIONS.intersection(parts[1:]):
        return TRADITIONAL if "hans" not in parts[1:] else SIMPLIFIED
    return SIMPLIFIED


def negotiate(tags: Iterable[tuple[str, float]]) -> str | None:
    """The locale of the most preferred tag Mailroom speaks (ties keep the browser's order)."""
    ranked = sorted(enumerate(tags), key=lambda item: (-item[1][1], item[0]))
    for _, (tag, quality) in ranked:
        found = locale_for_tag(tag) if quality > 0 else None
        if found is not None:
            return found
    return None


def known_locale(value: object) -> str | None:
    """The value when it is one of Mailroom's locales, else None (stored or posted choices, of any type)."""
    return value if isinstance(value, str) and value in LOCALES else None


def known_timezone(name: object) -> str | None:
    """The IANA zone name when this machine knows it (``Asia/Taipei``), else None (any type given)."""
    if not isinstance(name, str) or not name or len(name) > TIMEZONE_MAX or name not in _zones():
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


@cache
def _zones() -> frozenset[str]:
    """Every zone name the tz database of this machine holds (read once)."""
    return frozenset(available_timezones())


def timezone_names() -> list[str]:
    """Every zone a person may choose, sorted, for the account page's menu."""
    return sorted(canonical_zones())


# The tz database's backward-compatible names (US/Eastern, Etc/GMT+8): kept working, never offered.
LEGACY_PREFIXES = ("Etc/", "US/", "SystemV/", "Brazil/", "Canada/", "Chile/", "Mexico/")


@cache
def canonical_zones() -> dict[str, str]:
    """The zones the tz database lists for places (zone.tab), each with its ISO country code; without
    that file, every zone outside the legacy groups (country unknown: "")."""
    for folder in TZPATH:
        listed = _zone_tab(Path(folder) / "zone.tab")
        if listed:
            return listed
    return {name: "" for name in _zones() if "/" in name and not name.startswith(LEGACY_PREFIXES)}


def canonical_zone(name: str | None) -> str | None:
    """The listed zone an old alias stands for (Asia/Calcutta: Asia/Kolkata, US/Eastern:
    America/New_York), so the menu shows a stored alias as the place it is; else the name itself."""
    target = _links().get(name or "")
    return target if target in canonical_zones() else name


@cache
def _links() -> dict[str, str]:
    """``alias → zone`` from the tz database's compiled source (tzdata.zi), when this machine has it."""
    for folder in TZPATH:
        try:
            lines = (Path(folder) / "tzdata.zi").read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        links = [line.split() for line in lines if line.startswith("L ")]
        return {link[2]: link[1] for link in links if len(link) == 3}
    return {}


def _zone_tab(path: Path) -> dict[str, str]:
    """``zone → country`` from a zone.tab file, for the zones this machine can load (empty if none)."""
    try:
        rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]
    except OSError:
        return {}
    places = [row for row in rows if len(row) > 2 and not row[0].startswith("#")]
    return {row[2]: row[0] for row in places if row[2] in _zones()}
