"""The bad-input battery: every POST endpoint of ``app.url_map``, every field, every kind of bad value.

Whatever arrives, the reply is never a 5xx and never shows a stack trace, a redirect never leaves
the site, and a refused value leaves the database exactly as it was.
"""

from __future__ import annotations

import copy
import itertools
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from mailroom.extensions import db
from mailroom.models import User
from tests.conftest import TEST_SECRET
from tests.e2e.deploy.report import DrillReport, open_report
from tests.e2e.deploy.surface import (
    LINE,
    OTHER,
    TEXT,
    Endpoint,
    Visitors,
    csrf_token,
    fingerprint,
    pages,
    rows_holding,
    token_rules,
)
from tests.e2e.deploy.web import leaks_trace

# On PostgreSQL only: the battery is about input, refused or stored, and PostgreSQL is the stricter
# store (it refuses NUL in text, where SQLite keeps it; a value that slips past validation into a
# query or a row fails there at least as loudly). Production runs on it.
pytestmark = [pytest.mark.slow, pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)]

PASSWORD = "correct horse battery"
INJECTED = "victim@example.net"
CONTROL = {
    "crlf": f"x\r\nBcc: {INJECTED}",
    "lf": f"x\nBcc: {INJECTED}",
    "cr": "x\rX-Injected: 1",
    "nul": "x\x00y",
    "nul-only": "\x00",
}
LONG = {"long": "x" * 10_000, "long-address": "a" * 10_000 + "@example.com"}
MALFORMED = ["not-an-address", "a@b", "@example.com", "a@@example.com", "a@example..com",
             "a b@example.com", "<a@example.com>", "a@example.com>", "a@example.com, b@example.com",
             '"a b"@example.com', "a@[127.0.0.1]", "a@-example.com", "a@example.com\x00",
             ".a@example.com", "a.@example.com"]
# RFC 2047 section 5: an encoded-word must not appear in any part of an addr-spec; mail clients
# that decode it anyway show the reader a different address than the one mail goes to.
ENCODED_WORDS = ["=?utf-8?q?x?=@example.com", "=?utf-8?b?YWRtaW5AZXhhbXBsZS5jb20=?=@example.com"]
INTERNATIONAL = ["josé@example.com", "用户@例子.广告", "user@bücher.example", "user@xn--bcher-kva.example",
                 "Ǆ@example.com", "δοκιμή@παράδειγμα.δοκιμή", "उपयोगकर्ता@उदाहरण.कॉम", "a@ex\u00adample.com"]
UNSAFE_NEXT = ["//evil.example/", "///evil.example/", "/\\evil.example", "\\\\evil.example",
               "https://evil.example/", "http:evil.example", "javascript:alert(1)",
               "/%2F%2Fevil.example", "/\r\nLocation: https://evil.example/", " //evil.example",
               "\t//evil.example", "//evil.example@127.0.0.1/"]


def is_address_field(name: str) -> bool:
    """Fields that hold an email address."""
    return "email" in name or name == "identifier"


@dataclass
class Case:
    """One request of the battery and what it must not do."""

    endpoint: Endpoint
    field: str
    label: str
    strict: bool
    marker: str | None = None
    # False when the body as a whole is unreadable, so no single field can be blamed.
    names_field: bool = True


@dataclass
class Battery:
    """Runs cases and keeps count of what was checked and what went wrong."""

    app: Flask
    visitors: Visitors
    endpoints: list[Endpoint]
    counter: Iterator[int] = field(default_factory=itertools.count)
    problems: list[str] = field(default_factory=list)
    sent: int = 0
    refused: int = 0
    server_errors: int = 0
    traces: int = 0
    stored: int = 0
    offsite: int = 0
    unnamed: int = 0
    wrong_outcome: int = 0

    def baseline(self) -> dict[str, str]:
        """Valid values by field name, unique per case so earlier cases cannot interfere."""
        n = next(self.counter)
        return {"email": f"newcomer{n}@example.com", "new_email": f"newcomer{n}@example.com",
                "username": f"newcomer{n}", "identifier": "alice", "password": PASSWORD,
                "password2": PASSWORD, "current_password": PASSWORD, "code": "ABCDEF",
                "token": "not-a-token", "subject": "Hello", "text_body": "Hello there",
                "markdown_body": "Hello *there*", "next": "/", "remember": "y",
                "message_id": "1"}

    @property
    def anonymous(self) -> FlaskClient:
        """The anonymous visitor."""
        return self.visitors.anonymous

    def client_for(self, endpoint: Endpoint) -> FlaskClient:
        """Anonymous where the endpoint serves visitors, the signed-in admin where it needs an account."""
        return self.visitors.for_endpoint(endpoint)

    def fields_of(self, endpoint: Endpoint, base: dict[str, str]) -> dict[str, str]:
        """Valid values for every field the endpoint is known to have."""
        return {name: base.get(name, "value") for name in endpoint.fields}

    def send(self, case: Case, payload: dict[str, str], as_json: bool,
             raw: bytes | None = None) -> None:
        """Post once, then judge the reply and the database."""
        client, token = self.visitors.ready(case.endpoint)
        before = fingerprint(self.app)
        holding = rows_holding(self.app, case.marker) if case.marker else {}
        response = post(client, case.endpoint.path, payload, as_json, raw, token=token)
        self.judge(case, response, before, "json" if as_json else "form", holding)

    def judge(self, case: Case, response: TestResponse, before: str, mode: str,
              holding: dict[str, int] | None = None) -> None:
        """Record every broken promise of one reply."""
        self.sent += 1
        where = f"{case.endpoint.name} {case.field}={case.label} ({mode}) -> {response.status_code}"
        body = response.get_data(as_text=True)
        if 400 <= response.status_code < 500:
            self.refused += 1
        self.check(response.status_code >= 500, "server_errors", f"5xx: {where}")
        self.check(leaks_trace(body), "traces", f"stack trace: {where}")
        self.check(offsite(response), "offsite", f"off-site redirect {response.location}: {where}")
        self.check(case.names_field and unnamed_json_error(response), "unnamed",
                   f"JSON 400 names no field: {where} {body[:200]}")
        if case.strict:
            self.check(fingerprint(self.app) != before, "stored", f"stored or changed: {where}")
        if case.marker:
            now = rows_holding(self.app, case.marker)
            grown = sorted(t for t, n in now.items() if n > (holding or {}).get(t, 0))
            self.check(bool(grown), "stored", f"value stored in {grown}: {where}")

    def check(self, failed: bool, counter: str, message: str) -> None:
        """Count and remember a broken promise."""
        if failed:
            setattr(self, counter, getattr(self, counter) + 1)
            self.problems.append(message)

    def sweep(self, values: dict[str, str], strict_for: Callable[[str, str], bool],
              only: Callable[[str], bool] = lambda name: True, by_marker: bool = False) -> None:
        """Every endpoint, every (selected) field, every value, as a form and as JSON.

        ``by_marker``: judge "nothing stored" by searching the database for the value rather
        than by comparing it whole (a refused request may still count a wrong try).
        """
        for endpoint in self.endpoints:
            for name in [n for n in endpoint.fields if only(n)]:
                kind = endpoint.kind(name)
                for label, value in values.items():
                    for as_json in (False, True):
                        # Ignored-or-refused fields are checked by searching for the value, so
                        # each carries a suffix of its own that an earlier case cannot have stored.
                        sent = value + f"~{next(self.counter)}" if kind == OTHER else value
                        searched = kind == OTHER or by_marker
                        case = Case(endpoint, name, label, strict_for(kind, label) and not searched,
                                    marker=sent if searched else None)
                        payload = self.fields_of(endpoint, self.baseline())
                        payload[name] = sent
                        self.send(case, payload, as_json)

    def summary(self, report: DrillReport, title: str) -> None:
        """Print what was checked, then fail with every problem found."""
        report.counts(title, endpoints=len(self.endpoints), requests=self.sent,
                      refused_4xx=self.refused, server_errors=self.server_errors,
                      stack_traces=self.traces, stored=self.stored, offsite_redirects=self.offsite,
                      json_errors_without_field=self.unnamed, wrong_outcome=self.wrong_outcome)
        assert self.sent > 0, "the battery sent nothing: no endpoint was discovered"
        assert not self.problems, f"{len(self.problems)} problem(s):\n" + "\n".join(self.problems[:40])


def post(client: FlaskClient, path: str, payload: dict[str, str], as_json: bool,
         raw: bytes | None = None, csrf: bool = True, query: str = "",
         token: str | None = None) -> TestResponse:
    """POST a form (token in the body) or JSON (token in X-CSRFToken), or raw bytes of either type;
    the client's CSRF token is read from a page unless ``token`` is given."""
    token = (token or csrf_token(client)) if csrf else None
    url = path + query
    if as_json:
        headers = {"X-CSRFToken": token} if token else {}
        if raw is not None:
            return client.post(url, data=raw, content_type="application/json", headers=headers)
        return client.post(url, json=payload, headers=headers)
    if token:
        payload = {**payload, "csrf_token": token}
    if raw is not None:
        body = urllib.parse.urlencode(payload).encode() + b"&" + raw
        return client.post(url, data=body, content_type="application/x-www-form-urlencoded")
    return client.post(url, data=payload)


def offsite(response: TestResponse) -> bool:
    """Whether a redirect points anywhere but a path on this site."""
    if not 300 <= response.status_code < 400:
        return False
    target = response.location or ""
    parts = urllib.parse.urlsplit(target)
    local_host = parts.netloc in ("", "mailroom.test", "localhost")
    return not local_host or target.startswith(("//", "/\\")) or "\\" in target


def unnamed_json_error(response: TestResponse) -> bool:
    """A JSON 400 that does not say which field is wrong."""
    if response.status_code != 400 or not response.is_json:
        return False
    body = response.get_json(silent=True) or {}
    data = body.get("data") if isinstance(body, dict) else None
    return not (isinstance(data, dict) and isinstance(data.get("field"), str))


@pytest.fixture
def report(request: pytest.FixtureRequest) -> DrillReport:
    """What this battery checked, printed and repeated in the run's summary."""
    return open_report(request)


@pytest.fixture
def app_config() -> dict[str, Any]:
    """Sign-in throttling out of the way: the battery's wrong passwords would pause its own sign-ins."""
    return {"SIGNIN_FREE_FAILURES": 10**6, "SIGNIN_CLIENT_LOCKOUT_AFTER": 10**6,
            "SIGNIN_ACCOUNT_LOCKOUT_AFTER": 10**6}


# The surface depends on the code and this module's settings, not on the test: discovered (by the
# first battery of the process, or of each pytest-xdist worker) once, and copied for each test.
SURFACE: list[Endpoint] = []


@pytest.fixture
def battery(app: Flask, make_user: Callable[..., User]) -> Battery:
    """An anonymous visitor, a signed-in admin, and the discovered surface."""
    admin_user = make_user("alice", "alice@example.com", PASSWORD)
    with app.app_context():
        db.session.get(User, admin_user.id).is_admin = True
        db.session.get(User, admin_user.id).new_browser_check = False  # signs in by password alone
        db.session.commit()
    make_user("bob", "bob@example.com", PASSWORD)
    visitors = Visitors(app, "alice", PASSWORD)
    if not SURFACE:
        SURFACE.extend(visitors.discover())
    return Battery(app, visitors, copy.deepcopy(SURFACE))


def strict_unless_text(kind: str, label: str) -> bool:
    """Line breaks and length can be legitimate in a <textarea>; NUL never is."""
    if kind == TEXT:
        return label.startswith("nul")
    return kind == LINE


def test_the_surface_is_discovered(battery: Battery, report: DrillReport) -> None:
    """The battery sees the forms it must attack (if this fails, discovery broke, not the app)."""
    fields = {e.name: sorted(e.fields) for e in battery.endpoints}
    report.line("endpoints and fields: " + "; ".join(
        f"{e.name}[{e.visitor}{', json' if e.json else ''}]={sorted(e.fields)}" for e in battery.endpoints))
    assert {"identifier", "password"} <= set(fields["auth.login"])
    assert {"username", "email", "password", "password2"} <= set(fields["registration.register"])
    assert any(e.visitor == "member" and e.fields for e in battery.endpoints)


def test_the_fingerprint_sees_a_stored_account(battery: Battery) -> None:
    """The 'nothing stored' check can fail: a valid registration changes the fingerprint."""
    before = fingerprint(battery.app)
    base = battery.baseline()
    response = post(battery.anonymous, "/auth/register",
                    {k: base[k] for k in ("username", "email", "password", "password2")}, False)
    assert response.status_code == 302
    assert fingerprint(battery.app) != before


def test_control_characters_in_every_field(battery: Battery, report: DrillReport) -> None:
    battery.sweep(CONTROL, strict_unless_text)
    battery.summary(report, "CR/LF/NUL in every field")


def test_ten_thousand_characters_in_every_field(battery: Battery, report: DrillReport) -> None:
    battery.sweep(LONG, strict_unless_text)
    battery.summary(report, "10,000-character fields")


INVALID_UTF8 = b"a\xff\xfeb\xc3\x28\xed\xa0\x80"
BOUNDARY = "mailroom-battery"


def multipart(fields: dict[str, str], name: str, raw: bytes) -> bytes:
    """A multipart/form-data body whose field ``name`` holds raw bytes (as a broken client sends)."""
    parts = [(key, value.encode()) for key, value in fields.items()] + [(name, raw)]
    chunks = [f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'.encode()
              + value + b"\r\n" for key, value in parts]
    return b"".join(chunks) + f"--{BOUNDARY}--\r\n".encode()


def test_invalid_utf8_in_every_field(battery: Battery, report: DrillReport) -> None:
    """Form bodies (raw, percent-escaped, multipart) and JSON: no 5xx, and no U+FFFD ever stored."""
    for endpoint in battery.endpoints:
        for name in endpoint.fields:
            base = battery.fields_of(endpoint, battery.baseline())
            others = {k: v for k, v in base.items() if k != name}
            client = battery.client_for(endpoint)
            token = csrf_token(client)
            bodies = {
                "urlencoded-raw": ("application/x-www-form-urlencoded",
                                   urllib.parse.urlencode({**others, "csrf_token": token}).encode()
                                   + b"&" + name.encode() + b"=" + INVALID_UTF8),
                "urlencoded-escaped": ("application/x-www-form-urlencoded",
                                       urllib.parse.urlencode({**others, "csrf_token": token}).encode()
                                       + b"&" + name.encode() + b"=a%FF%FEb%C3%28"),
                "multipart": (f"multipart/form-data; boundary={BOUNDARY}",
                              multipart({**others, "csrf_token": token}, name, INVALID_UTF8)),
            }
            for label, (content_type, body) in bodies.items():
                case = Case(endpoint, name, f"invalid-utf8-{label}", strict=False, marker="\ufffd")
                before, holding = fingerprint(battery.app), rows_holding(battery.app, "\ufffd")
                response = client.post(endpoint.path, data=body, content_type=content_type)
                battery.judge(case, response, before, "form", holding)
                battery.check(response.status_code != 400, "wrong_outcome",
                              f"not a 400: {endpoint.name} {name} {label} -> {response.status_code}")
            as_json = Case(endpoint, name, "invalid-utf8-json", strict=True, names_field=False)
            battery.send(as_json, base, True, raw=b'{"' + name.encode() + b'": "' + INVALID_UTF8 + b'"}')
    battery.summary(report, "invalid UTF-8 in every field")


def test_deeply_nested_json_is_refused_everywhere(battery: Battery, report: DrillReport) -> None:
    """``[`` x 5000 (and an object as deep) to every POST endpoint: a JSON 400, nothing changed."""
    for endpoint in battery.endpoints:
        client = battery.client_for(endpoint)
        for label, raw in (("arrays", b"[" * 5000), ("objects", b'{"a":' * 5000 + b"1" + b"}" * 5000)):
            case = Case(endpoint, "body", f"nested-{label}", strict=True, names_field=False)
            before = fingerprint(battery.app)
            response = post(client, endpoint.path, {}, True, raw=raw)
            battery.judge(case, response, before, "json")
            battery.check(response.status_code != 400 or not response.is_json, "wrong_outcome",
                          f"not a JSON 400: {endpoint.name} nested {label} -> {response.status_code}")
    battery.summary(report, "JSON nested 5,000 deep")


def test_malformed_addresses_in_every_address_field(battery: Battery, report: DrillReport) -> None:
    values = {f"malformed-{i}": value for i, value in enumerate(MALFORMED)}
    battery.sweep(values, lambda kind, label: True, only=is_address_field, by_marker=True)
    battery.summary(report, "malformed addresses in every address field")


def test_encoded_word_addresses_are_refused(battery: Battery, report: DrillReport) -> None:
    values = {f"encoded-word-{i}": value for i, value in enumerate(ENCODED_WORDS)}
    battery.sweep(values, lambda kind, label: True, only=is_address_field, by_marker=True)
    battery.summary(report, "RFC 2047 encoded-words as addresses")


def test_internationalised_addresses_never_break_a_page(battery: Battery, report: DrillReport) -> None:
    """Accepted or refused with a message (SMTPUTF8 addresses are valid), never a 5xx or a trace."""
    values = {f"intl-{i}": value for i, value in enumerate(INTERNATIONAL)}
    battery.sweep(values, lambda kind, label: False, only=is_address_field)
    battery.summary(report, "internationalised addresses in every address field")


def test_missing_or_wrong_csrf_is_refused_everywhere(battery: Battery, report: DrillReport) -> None:
    """Every POST that is not exempt on purpose refuses a request without the session's token."""
    exempt = sorted(e.name for e in battery.endpoints if e.csrf_exempt)
    for endpoint in [e for e in battery.endpoints if not e.csrf_exempt]:
        client = battery.client_for(endpoint)
        for label, token in (("missing", None), ("wrong", "forged-token"), ("other-session",
                                                                            csrf_token(FlaskClient(battery.app)))):
            case = Case(endpoint, "csrf_token", label, strict=True)
            payload = battery.fields_of(endpoint, battery.baseline())
            before = fingerprint(battery.app)
            for as_json in (False, True):
                headers = {"X-CSRFToken": token} if token and as_json else {}
                form = payload if as_json or not token else {**payload, "csrf_token": token}
                response = (client.post(endpoint.path, json=payload, headers=headers) if as_json
                            else client.post(endpoint.path, data=form))
                battery.judge(case, response, before, "json" if as_json else "form")
                battery.check(response.status_code != 400, "wrong_outcome",
                              f"not refused with 400: {endpoint.name} csrf {label} -> {response.status_code}")
    report.line(f"CSRF-exempt on purpose (RFC 8058 one-click): {exempt}")
    battery.summary(report, "missing, wrong and foreign CSRF tokens")


def test_unsafe_next_never_leaves_the_site(battery: Battery, report: DrillReport) -> None:
    """``next`` in the query of every page and every POST, signed in with the right password or not."""
    for target in UNSAFE_NEXT:
        query = "?" + urllib.parse.urlencode({"next": target})
        for path in pages(battery.app):
            case = Case(Endpoint("GET " + path, path, path, False), "next", target, strict=False)
            battery.judge(case, battery.anonymous.get(path + query), "", "query")
        fresh = battery.app.test_client()
        payload = {"identifier": "bob", "password": PASSWORD, "next": target}
        response = post(fresh, "/auth/login", payload, False, query=query)
        case = Case(Endpoint("auth.login", "/auth/login", "/auth/login", False), "next", target, False)
        battery.judge(case, response, "", "form")
        battery.check(response.status_code != 302, "wrong_outcome", f"sign-in with next={target!r} failed")
    battery.summary(report, "unsafe next values")


def tampered_tokens() -> dict[str, str]:
    """Tokens that look right and are not: none-algorithm, wrong key, wrong purpose, mangled."""
    claims = {"sub": "1", "purpose": "reset_password", "exp": 4102444800, "iat": 1700000000}
    good_shape = jwt.encode(claims, "another-key-" + "k" * 32, algorithm="HS256")
    return {
        "alg-none": jwt.encode(claims, "", algorithm="none"),
        "wrong-key": good_shape,
        "other-alg": jwt.encode(claims, TEST_SECRET * 2, algorithm="HS512"),
        "other-purpose": jwt.encode({**claims, "purpose": "unsubscribe"}, TEST_SECRET, algorithm="HS256"),
        "truncated": good_shape[:-5],
        "flipped": good_shape[:-3] + ("A" if good_shape[-3] != "A" else "B") + good_shape[-2:],
        "garbage": "not.a.token",
        "empty-parts": "..",
        "long": "x" * 10_000,
        "crlf": "abc%0D%0ALocation:%20https://evil.example/",
        "nul": "abc%00def",
        "invalid-utf8": "abc%FF%FE",
        "unicode": "токен",
    }


def test_tampered_tokens_in_every_token_url(battery: Battery, report: DrillReport) -> None:
    """GET and POST to every URL that carries a token: refused, nothing changed, no 5xx."""
    rules = token_rules(battery.app)
    for rule in rules:
        endpoint = next((e for e in battery.endpoints if e.name == rule.endpoint),
                        Endpoint(rule.endpoint, rule.rule, rule.rule, False))
        for label, token in tampered_tokens().items():
            path = rule.rule.split("<")[0] + token + rule.rule.split(">", 1)[1]
            case = Case(endpoint, "url-token", label, strict=True)
            before = fingerprint(battery.app)
            if "GET" in (rule.methods or ()):
                battery.judge(case, battery.anonymous.get(path), before, "get")
            if "POST" in (rule.methods or ()):
                payload = {"password": "a brand new passphrase", "password2": "a brand new passphrase"}
                battery.judge(case, post(battery.anonymous, path, payload, False), before, "form")
    report.line(f"token URLs: {sorted(r.rule for r in rules)}")
    battery.summary(report, "tampered tokens in every token URL")


def test_tampered_tokens_in_every_json_token_field(battery: Battery, report: DrillReport) -> None:
    tokens = {label: urllib.parse.unquote(value) for label, value in tampered_tokens().items()}
    battery.sweep(tokens, lambda kind, label: True, only=lambda name: "token" in name)
    battery.summary(report, "tampered tokens in every token field")
