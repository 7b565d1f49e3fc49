"""Check the links of a development message: loopback targets get a HEAD request, other hosts none.

A development mailbox must never reach out to the hosts an email names (tracking links, other
people's servers): only links to this machine are requested, and redirects are reported, not followed.
The caller holds no database transaction while checking (a page that needs the database would wait
for it), and names the server it runs on when that server answers one request at a time: a link to
it could only be answered after the check, so it is reported as not requested instead of timing out.
"""

from __future__ import annotations

import http.client
import ipaddress
import ssl
import time
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from flask_mailroom.i18n import gettext

TIMEOUT_SECONDS = 3.0
USER_AGENT = "Mailroom development link check"


@dataclass(frozen=True)
class LinkStatus:
    """What the check found for one link: the HTTP status when it was requested, and a note."""

    url: str
    checked: bool
    status: int | None
    note: str
    elapsed_ms: int | None = None

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


def _port(parts: SplitResult) -> int:
    """The port a link points at (the scheme's own when none is written)."""
    return parts.port or (443 if parts.scheme == "https" else 80)


def check(url: str, timeout: float = TIMEOUT_SECONDS, busy: int | None = None) -> LinkStatus:
    """Request a loopback link and report its status; describe every other link without fetching it.
    ``busy``: the loopback port of a server that cannot answer while this check runs."""
    parts = urlsplit(url)
    if parts.scheme == "mailto":
        return LinkStatus(url, False, None, gettext("an email address, not a web page"))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return LinkStatus(url, False, None, gettext("not a web link"))
    if not is_loopback(parts.hostname):
        return LinkStatus(url, False, None,
                          gettext("not checked: another host (only loopback links are requested)"))
    if busy is not None and _port(parts) == busy:
        return LinkStatus(url, False, None, gettext(
            "not checked: this development server answers one request at a time, so it cannot answer "
            "while it runs the check (start it with threads, as flask run does by default)"))
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
    started = time.perf_counter()
    try:
        connection.request("HEAD", target, headers={"User-Agent": USER_AGENT})
        response = connection.getresponse()
    except (OSError, http.client.HTTPException) as error:
        reason = str(error) or type(error).__name__
        return LinkStatus(url, True, None, gettext("no answer: %(error)s", error=reason))
    finally:
        connection.close()
    elapsed = round((time.perf_counter() - started) * 1000)
    location = response.getheader("Location")
    note = gettext("%(reason)s in %(ms)s ms", reason=response.reason, ms=elapsed)
    if location:
        note = gettext("%(reason)s in %(ms)s ms, redirects to %(location)s", reason=response.reason,
                       ms=elapsed, location=location)
    return LinkStatus(url, True, response.status, note, elapsed)


def check_all(urls: list[str], timeout: float = TIMEOUT_SECONDS,
              busy: int | None = None) -> list[LinkStatus]:
    """Check every link, in order (``busy`` as for ``check``)."""
    return [check(url, timeout, busy) for url in urls]


def single_threaded_port(environ: dict[str, object]) -> int | None:
    """The port of the server handling this WSGI request when it answers one request at a time
    (neither threads nor processes), else None."""
    if environ.get("wsgi.multithread") or environ.get("wsgi.multiprocess"):
        return None
    try:
        return int(str(environ.get("SERVER_PORT") or ""))
    except ValueError:
        return None
