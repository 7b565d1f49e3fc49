"""A short, human description of a browser from its User-Agent header, for the session list."""

from __future__ import annotations

# Order matters: Edge and Opera claim to be Chrome, Chrome claims to be Safari.
BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chromium/", "Chromium"),
            ("Chrome/", "Chrome"), ("Safari/", "Safari"), ("curl/", "curl"))
SYSTEMS = (("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"), ("Windows", "Windows"),
           ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))


def _first(text: str, table: tuple[tuple[str, str], ...]) -> str | None:
    """The name of the first marker of ``table`` found in ``text``."""
    return next((name for marker, name in table if marker in text), None)


def browser_name(user_agent: str) -> str | None:
    """The browser's name ('Firefox'), or None when the header names none we know."""
    return _first(user_agent, BROWSERS)


def system_name(user_agent: str) -> str | None:
    """The operating system's name ('Linux'), or None when the header names none we know."""
    return _first(user_agent, SYSTEMS)


def describe_browser(user_agent: str) -> str:
    """'Firefox on Linux', 'Chrome', or 'Unknown browser' when the header says nothing we know."""
    browser, system = browser_name(user_agent), system_name(user_agent)
    if browser and system:
        return f"{browser} on {system}"
    return browser or (f"A browser on {system}" if system else "Unknown browser")
