"""Check the links of a development message: loopback targets get a HEAD request, other hosts none.

A development mailbox must never reach out to the hosts an email names (tracking links, other
people's servers): only links to this machine are requested, and redirects are reported, not followed.
"""

from __future__ import annotations

import http.client
import ipaddress
import ssl
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

TIMEOUT_SECONDS = 3.0
USER_AGENT = "Mailroom development link check"


@dataclass(frozen=True)
class LinkStatus:
    """What the check found for one link: the HTTP status when it was requested, and a note."""

    url: str
    checked: bool
    status: int | None
    note: str

    @property
    def ok(self) -> bool:
        """A loopback link that answered with a success or a redirect."""
        return self.status is not None and self.status < 400


def is_loopback(host: str) -> bool:
    """Whether a host name or address means this machine (no DNS lookup: names are not resolved)."""
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check(url: str, timeout: float = TIMEOUT_SECONDS) -> LinkStatus:
    """Request a loopback link and report its status; describe every other link without fetching it."""
    parts = urlsplit(url)
    if parts.scheme == "mailto":
        return LinkStatus(url, False, None, "an email address, not a web page")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return LinkStatus(url, False, None, "not a web link")
    if not is_loopback(parts.hostname):
        return LinkStatus(url, False, None, "not checked: another host (only loopback links are requested)")
    return _head(url, parts, timeout)


def _connection(parts: SplitResult, timeout: float) -> http.client.HTTPConnection:
    """A connection to the loopback host; HTTPS without certificate checks (local certificates)."""
    host = parts.hostname or "127.0.0.1"
    if parts.scheme == "https":
        context = ssl._create_unverified_context()  # noqa: S323 (loopback only, checked above)
        return http.client.HTTPSConnection(host, parts.port, timeout=timeout, context=context)
    return http.client.HTTPConnection(host, parts.port, timeout=timeout)


def _head(url: str, parts: SplitResult, timeout: float) -> LinkStatus:
    """One HEAD request; a redirect is reported with its target, never followed."""
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = _connection(parts, timeout)
    try:
        connection.request("HEAD", target, headers={"User-Agent": USER_AGENT})
        response = connection.getresponse()
    except (OSError, http.client.HTTPException) as error:
        return LinkStatus(url, True, None, f"no answer: {error}")
    finally:
        connection.close()
    location = response.getheader("Location")
    note = f"{response.reason}, redirects to {location}" if location else response.reason
    return LinkStatus(url, True, response.status, note)


def check_all(urls: list[str], timeout: float = TIMEOUT_SECONDS) -> list[LinkStatus]:
    """Check every link, in order."""
    return [check(url, timeout) for url in urls]
