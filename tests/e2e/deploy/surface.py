"""The application's input surface, discovered from ``app.url_map`` and its own pages.

Every rule that takes a POST is an endpoint to attack; its fields come from the forms on the
site's pages that post to it, and from the field names its JSON errors report. New endpoints,
forms and fields are covered without touching the tests.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.routing import Rule

from mailroom.extensions import csrf, db

SKIPPED_ENDPOINTS = ("static", "bootstrap.static")
# Input types whose value is one line of text: CR, LF, NUL and overlong values must be refused.
LINE = "line"
# <textarea>: line breaks and long text can be legitimate; NUL never is.
TEXT = "text"
# Checkboxes, selects and file inputs: bad values must be ignored or refused, never stored.
OTHER = "other"
INPUT_KINDS = {"textarea": TEXT, "file": OTHER, "checkbox": OTHER, "radio": OTHER, "select": OTHER}
NOT_FIELDS = {"csrf_token", "submit"}
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@dataclass
class Endpoint:
    """One POST endpoint and what is known of its fields."""

    name: str
    rule: str
    path: str
    csrf_exempt: bool
    fields: dict[str, str] = field(default_factory=dict)
    # Who the endpoint serves: "anonymous", or "member" when it wants a signed-in account.
    visitor: str = "anonymous"
    # Whether it answered JSON when sent JSON.
    json: bool = False

    def kind(self, name: str) -> str:
        """The kind of a field (one line of text unless a page says otherwise)."""
        return self.fields.get(name, LINE)


class FormParser(HTMLParser):
    """Collects each POST form of a page: where it posts and the kinds of its fields."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self._current: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Open a form, or add a field to the open one."""
        values = {k: v or "" for k, v in attrs}
        if tag == "form" and values.get("method", "get").lower() == "post":
            self._current = {}
            self.forms.append((values.get("action", ""), self._current))
        elif self._current is not None and tag in ("input", "textarea", "select", "button"):
            name = values.get("name", "")
            kind_key = tag if tag != "input" else values.get("type", "text").lower()
            if name and name not in NOT_FIELDS and kind_key not in ("submit", "button", "reset"):
                self._current[name] = INPUT_KINDS.get(kind_key, LINE)

    def handle_endtag(self, tag: str) -> None:
        """Close the open form."""
        if tag == "form":
            self._current = None


def sample_path(rule: Rule) -> str:
    """A concrete path for a rule: 1 for numbers, a plausible opaque string for the rest."""
    path = rule.rule
    for converter, argument in rule._converters.items():
        value = "1" if type(argument).__name__ in ("IntegerConverter", "NumberConverter") else "sample"
        path = re.sub(rf"<(?:[^:<>]+:)?{re.escape(converter)}>", value, path)
    return path


def token_rules(app: Flask) -> list[Rule]:
    """Rules whose URL carries a string argument: the places a token or handle arrives."""
    return [rule for rule in routable(app) if any(
        type(c).__name__ in ("UnicodeConverter", "PathConverter") for c in rule._converters.values())]


def routable(app: Flask) -> list[Rule]:
    """Every rule except static files."""
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint not in SKIPPED_ENDPOINTS]


def is_exempt(app: Flask, endpoint: str) -> bool:
    """Whether Flask-WTF's CSRF protection was turned off for this view on purpose."""
    view = app.view_functions[endpoint]
    name = f"{view.__module__}.{view.__name__}"
    blueprint = app.blueprints.get(endpoint.rpartition(".")[0])
    return name in csrf._exempt_views or blueprint in csrf._exempt_blueprints


def post_endpoints(app: Flask) -> list[Endpoint]:
    """Every rule that accepts POST."""
    return [Endpoint(rule.endpoint, rule.rule, sample_path(rule), is_exempt(app, rule.endpoint))
            for rule in routable(app) if "POST" in (rule.methods or ())]


def pages(app: Flask) -> list[str]:
    """A path for every rule that answers GET."""
    return [sample_path(rule) for rule in routable(app) if "GET" in (rule.methods or ())]


def page_forms(client: FlaskClient, paths: Iterable[str]) -> dict[str, dict[str, str]]:
    """For each path that some page's form posts to, the union of that form's fields."""
    found: dict[str, dict[str, str]] = {}
    for path in paths:
        response = client.get(path)
        if response.status_code != 200 or not (response.mimetype or "").startswith("text/html"):
            continue
        parser = FormParser()
        parser.feed(response.get_data(as_text=True))
        for action, fields in parser.forms:
            target = urlsplit(action).path or path
            found.setdefault(target, {}).update(fields)
    return found


def json_probe(client: FlaskClient, path: str) -> tuple[int, str, dict[str, str] | None]:
    """POST ``{}``: the status, the redirect target, and the fields named by a JSON error (None: not JSON)."""
    response = client.post(path, json={}, headers={"X-CSRFToken": csrf_token(client)})
    if not response.is_json:
        return response.status_code, response.location or "", None
    data = (response.get_json(silent=True) or {}).get("data") or {}
    errors = data.get("errors") if isinstance(data, dict) else None
    names = set(errors) if isinstance(errors, dict) else set()
    if isinstance(data, dict) and isinstance(data.get("field"), str):
        names.add(data["field"])
    return response.status_code, "", {n: LINE for n in names if n and n not in NOT_FIELDS}


def wants_account(status: int, location: str) -> bool:
    """Whether a reply turned an anonymous visitor away to sign in."""
    return status in (401, 403) or "/auth/login" in location


def csrf_token(client: FlaskClient) -> str:
    """The client's CSRF token, from the home page's meta tag."""
    found = CSRF_META.search(client.get("/").get_data(as_text=True))
    assert found, "no CSRF token on the home page"
    return found.group(1)


def match_rule(app: Flask, path: str) -> str | None:
    """The endpoint a concrete path routes to for POST, if any."""
    adapter = app.url_map.bind("localhost")
    try:
        endpoint, _ = adapter.match(path, method="POST")
    except Exception:
        return None
    return str(endpoint)


def discover(app: Flask, crawlers: Iterable[FlaskClient], anonymous: Callable[[], FlaskClient],
             member: Callable[[], FlaskClient]) -> list[Endpoint]:
    """Every POST endpoint, with the fields its forms and JSON errors reveal and whom it serves.

    ``crawlers`` only GET pages; each JSON probe uses a fresh client from ``anonymous`` or
    ``member``, so a probe that signs out or changes something (``/auth/logout``) harms nothing.
    """
    endpoints = post_endpoints(app)
    by_name = {e.name: e for e in endpoints}
    for crawler in crawlers:
        for path, fields in page_forms(crawler, pages(app)).items():
            name = match_rule(app, path)
            if name in by_name:
                by_name[name].fields.update(fields)
    for endpoint in endpoints:
        status, location, named = json_probe(anonymous(), endpoint.path)
        if wants_account(status, location):
            endpoint.visitor = "member"
            status, location, named = json_probe(member(), endpoint.path)
        endpoint.json = named is not None
        for name, kind in (named or {}).items():
            endpoint.fields.setdefault(name, kind)
    return endpoints


# A sign-in (which may ignore a bad ``next``) opens a session row and trusts the browser; ending a
# session or forgetting a browser deletes one. Those rows hold no submitted field, and
# ``rows_holding`` still searches them.
NOT_FINGERPRINTED = frozenset({"user_sessions", "trusted_devices"})


def fingerprint(app: Flask) -> str:
    """A digest of every row of every table: equal digests mean nothing was stored or changed."""
    digest = hashlib.sha256()
    with app.app_context():
        for table in [t for t in db.metadata.sorted_tables if t.name not in NOT_FINGERPRINTED]:
            rows = db.session.execute(select(table).order_by(*table.primary_key.columns)).all()
            digest.update(table.name.encode() + repr(rows).encode())
        db.session.rollback()
    return digest.hexdigest()


def rows_holding(app: Flask, needle: str) -> dict[str, int]:
    """For each table, how many rows hold ``needle`` (as text or inside bytes)."""
    counts: dict[str, int] = {}
    raw = needle.encode("utf-8", "surrogatepass")
    with app.app_context():
        for table in db.metadata.sorted_tables:
            found = sum(1 for row in db.session.execute(select(table)).all()
                        if any(_holds(value, needle, raw) for value in row))
            if found:
                counts[table.name] = found
        db.session.rollback()
    return counts


def _holds(value: Any, needle: str, raw: bytes) -> bool:
    """Whether one column value contains the needle."""
    if isinstance(value, str):
        return needle in value
    if isinstance(value, bytes):
        return raw in value
    if isinstance(value, (list, dict)):
        return needle in repr(value)
    return False


def signed_in(app: Flask, identifier: str, password: str) -> FlaskClient:
    """A new client signed in through the real sign-in form."""
    client = app.test_client()
    response = client.post("/auth/login", data={"identifier": identifier, "password": password,
                                                "csrf_token": csrf_token(client)})
    assert response.status_code == 302, f"could not sign in as {identifier}"
    return client


class Visitors:
    """An anonymous visitor and a signed-in member, re-signed in whenever a request signed it out."""

    def __init__(self, app: Flask, identifier: str, password: str) -> None:
        self.app = app
        self.identifier = identifier
        self.password = password
        self.anonymous = app.test_client()
        self._member: FlaskClient | None = None

    def fresh_member(self) -> FlaskClient:
        """A member client of its own."""
        return signed_in(self.app, self.identifier, self.password)

    def member(self) -> FlaskClient:
        """The member client, still signed in."""
        if self._member is None or self._member.get("/account/").status_code != 200:
            self._member = self.fresh_member()
        return self._member

    def discover(self) -> list[Endpoint]:
        """The surface as both visitors see it."""
        return discover(self.app, [self.anonymous, self.member()], self.app.test_client,
                        self.fresh_member)

    def for_endpoint(self, endpoint: Endpoint) -> FlaskClient:
        """The visitor the endpoint serves."""
        return self.member() if endpoint.visitor == "member" else self.anonymous

    def ready(self, endpoint: Endpoint) -> tuple[FlaskClient, str]:
        """The visitor the endpoint serves and its CSRF token: for the member, the page that shows
        it is still signed in also carries the token (one request where there were two)."""
        if endpoint.visitor != "member":
            return self.anonymous, csrf_token(self.anonymous)
        if self._member is not None:
            page = self._member.get("/account/")
            found = CSRF_META.search(page.get_data(as_text=True)) if page.status_code == 200 else None
            if found:
                return self._member, found.group(1)
        self._member = self.fresh_member()
        return self._member, csrf_token(self._member)
