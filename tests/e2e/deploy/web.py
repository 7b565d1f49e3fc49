"""A small HTTP client for drills: a cookie jar, CSRF tokens read from pages, no redirects followed."""

from __future__ import annotations

import http.client
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.cookiejar import CookieJar
from typing import Any

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
# What a leaked stack trace looks like in a body, from Python, Werkzeug, SQLAlchemy or psycopg.
TRACE_MARKERS = ("Traceback (most recent call last)", 'File "/', "sqlalchemy.", "psycopg.",
                 "OperationalError", "werkzeug.debug", "redis.exceptions")


def leaks_trace(body: str) -> bool:
    """Whether a response body shows internals: a stack trace or an exception from a library."""
    return any(marker in body for marker in TRACE_MARKERS)


@dataclass(frozen=True)
class Reply:
    """One HTTP response: status 0 means the connection itself failed."""

    status: int
    body: str
    headers: dict[str, str]

    @property
    def location(self) -> str:
        """The redirect target, if any."""
        return self.headers.get("location", "")

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Hand 3xx back to the caller instead of following it."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        """Never follow."""
        return None


class WebClient:
    """One visitor: its own cookies, talking to one site."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.cookies = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies),
                                                  _NoRedirect())

    def request(self, method: str, path: str, data: bytes | None = None,
                headers: dict[str, str] | None = None) -> Reply:
        """Send one request; HTTP errors are replies too, and a dead connection is status 0."""
        req = urllib.request.Request(self.base_url + path, data=data, method=method,  # noqa: S310
                                     headers=headers or {})
        try:
            with self.opener.open(req, timeout=self.timeout) as response:
                return self._reply(response.status, response.read(), response.headers)
        except urllib.error.HTTPError as error:
            return self._reply(error.code, error.read(), error.headers)
        except (OSError, http.client.HTTPException) as error:
            return Reply(0, f"{type(error).__name__}: {error}", {})

    @staticmethod
    def _reply(status: int, body: bytes, headers: Any) -> Reply:
        """Build a Reply with lower-case header names."""
        return Reply(status, body.decode("utf-8", "replace"),
                     {k.lower(): v for k, v in headers.items()})

    def get(self, path: str, **headers: str) -> Reply:
        """GET a path."""
        return self.request("GET", path, headers=headers)

    def csrf(self, path: str = "/auth/login") -> str:
        """The session's CSRF token, read from a page's meta tag as the site's scripts do."""
        page = self.get(path).body
        found = CSRF_META.search(page)
        if not found:
            raise AssertionError(f"no CSRF token on {path}: {page[:300]}")
        return found.group(1)

    def post_form(self, path: str, fields: dict[str, str]) -> Reply:
        """POST a urlencoded form."""
        data = urllib.parse.urlencode(fields).encode()
        return self.request("POST", path, data,
                            {"Content-Type": "application/x-www-form-urlencoded"})

    def post_json(self, path: str, payload: Any, csrf: str | None) -> Reply:
        """POST JSON the way the site's scripts do, with the token in X-CSRFToken."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if csrf:
            headers["X-CSRFToken"] = csrf
        return self.request("POST", path, json.dumps(payload).encode(), headers)

    def sign_in(self, identifier: str, password: str) -> Reply:
        """Sign in through the real form."""
        token = self.csrf("/auth/login")
        return self.post_form("/auth/login", {"identifier": identifier, "password": password,
                                              "csrf_token": token})
