"""Hypothesis fuzz of every JSON endpoint discovered from ``app.url_map``: no input gets a 5xx.

Bodies are drawn around each endpoint's own field names (from its forms and JSON errors) with
values of every JSON type, control characters, overlong and odd Unicode strings, plus bodies that
are not objects or not JSON at all. Every JSON reply must keep the one shape and its status.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailroom.extensions import db
from mailroom.models import User
from tests.e2e.deploy.report import DrillReport, open_report
from tests.e2e.deploy.surface import Visitors
from tests.e2e.deploy.web import leaks_trace

PASSWORD = "correct horse battery"
EXAMPLES = 1200
NASTY = ["", " ", "\x00", "\r\n", "a\r\nBcc: victim@example.net", "\u2028", "\ud7ff", "\ufeff",
         "x" * 10_000, "a@b", "alice@example.com", "ALICE@EXAMPLE.COM", "用户@例子.广告",
         "=?utf-8?q?x?=@example.com", PASSWORD, "ABCDEF", "abcdef", "AB CD EF", "0" * 6,
         "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "../../etc/passwd", "<script>alert(1)</script>",
         "' OR 1=1 --", "%s%s%n", "${jndi:x}", "null", "true", "1e309", "-0"]

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=40)
           | st.sampled_from(NASTY))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)


INVALID_UTF8 = [b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80"]

# Values that pass validation, so that fuzzed neighbours reach the code behind the validators.
VALID = {"email": "newcomer@example.com", "password": PASSWORD, "password2": PASSWORD,
         "code": "ABCDEF", "token": "not-a-token", "subject": "Hello", "text_body": "Hello there",
         "markdown_body": "Hello *there*", "message_id": "1", "identifier": "alice"}


def bodies(fields: list[str]) -> st.SearchStrategy[bytes]:
    """Request bodies for one endpoint: near-valid objects, objects around its fields, other JSON, bytes.

    Near-valid objects keep every field valid but at most one, so many bodies get past the
    validators and into the use cases behind them.
    """
    names = st.sampled_from(fields) if fields else st.text(max_size=10)
    value = st.sampled_from(NASTY) | st.text(max_size=300) | json_values

    def one_fuzzed(fuzzed: str | None) -> st.SearchStrategy[dict[str, Any]]:
        """Valid values for every field except ``fuzzed``."""
        return st.fixed_dictionaries({name: value if name == fuzzed else st.just(VALID.get(name, "value"))
                                      for name in fields})

    near_valid = st.sampled_from([None, *fields]).flatmap(one_fuzzed)
    loose = st.dictionaries(names | st.text(max_size=10), value, max_size=5)
    encode: Any = lambda body: json.dumps(body, allow_nan=True).encode()  # noqa: E731
    return st.one_of(near_valid.map(encode), near_valid.map(encode), loose.map(encode),
                     json_values.map(encode), st.binary(max_size=200), nested(), broken_utf8(near_valid))


def nested() -> st.SearchStrategy[bytes]:
    """Arrays or objects nested from a little to far too deep, closed or not."""
    def build(depth: int, kind: str, closed: bool) -> bytes:
        opening, closing = (b"[", b"]") if kind == "array" else (b'{"a":', b"}")
        return opening * depth + (b"1" + closing * depth if closed else b"")
    return st.builds(build, st.integers(1, 6000), st.sampled_from(["array", "object"]), st.booleans())


def broken_utf8(objects: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[bytes]:
    """A near-valid object with bytes that are not UTF-8 spliced into it."""
    def splice(body: dict[str, Any], junk: bytes, at: int) -> bytes:
        text = json.dumps(body).encode()
        cut = at % (len(text) + 1)
        return text[:cut] + junk + text[cut:]
    return st.builds(splice, objects, st.sampled_from(INVALID_UTF8), st.integers(0, 400))


@pytest.fixture
def app_config() -> dict[str, Any]:
    """Limits off: the fuzz is after crashes, and 429s would hide the code behind them."""
    return {"RATELIMIT_ENABLED": False}


@pytest.fixture
def report(request: pytest.FixtureRequest) -> DrillReport:
    """What the fuzz checked, printed and repeated in the run's summary."""
    return open_report(request)


@pytest.mark.slow
@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
def test_json_endpoints_never_answer_5xx(app: Flask, make_user: Callable[..., User],
                                         report: DrillReport) -> None:
    admin = make_user("alice", "alice@example.com", PASSWORD)
    with app.app_context():
        db.session.get(User, admin.id).is_admin = True
        db.session.get(User, admin.id).new_browser_check = False  # signs in by password alone
        db.session.commit()
    make_user("bob", "bob@example.com", PASSWORD, confirmed=False)
    visitors = Visitors(app, "alice", PASSWORD)
    targets = [e for e in visitors.discover() if e.json]
    assert targets, "no JSON endpoint discovered"
    statuses: Counter[tuple[str, int]] = Counter()
    problems: list[str] = []

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        endpoint = data.draw(st.sampled_from(targets), label="endpoint")
        body = data.draw(bodies(sorted(endpoint.fields)), label="body")
        client, token = visitors.ready(endpoint)
        response = client.post(endpoint.path, data=body, content_type="application/json",
                               headers={"X-CSRFToken": token, "Accept": "application/json"})
        statuses[(endpoint.name, response.status_code)] += 1
        text = response.get_data(as_text=True)
        shape = response.get_json(silent=True)
        broken = (response.status_code >= 500 or leaks_trace(text)
                  or not (isinstance(shape, dict) and shape.get("code") == response.status_code
                          and isinstance(shape.get("message"), str) and isinstance(shape.get("data"), dict)))
        if broken:
            problems.append(f"{endpoint.name} {body[:120]!r} -> {response.status_code} {text[:200]}")
        assert response.status_code < 500, problems[-1]

    fuzz()
    with app.app_context():
        db.session.remove()
    per_endpoint = Counter(name for name, _ in statuses.elements())
    report.counts("JSON fuzz", cases=sum(statuses.values()), endpoints=len(targets),
                  server_errors=sum(n for (_, s), n in statuses.items() if s >= 500),
                  off_shape=len(problems))
    report.line("cases per endpoint: " + ", ".join(f"{k}={v}" for k, v in sorted(per_endpoint.items())))
    report.line("statuses: " + ", ".join(f"{k[0]}:{k[1]}={v}" for k, v in sorted(statuses.items())))
    assert sum(statuses.values()) >= 1000
    assert not problems, "\n".join(problems[:20])


MULTIPART_EXAMPLES = 200
BOUNDARY = "mailroom-fuzz"


def multipart(fields: dict[str, bytes]) -> bytes:
    """A multipart/form-data body of raw field values."""
    chunks = [f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value
              + b"\r\n" for name, value in fields.items()]
    return b"".join(chunks) + f"--{BOUNDARY}--\r\n".encode()


@pytest.mark.slow
@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
def test_multipart_with_invalid_utf8_is_refused_by_every_form(
        app: Flask, make_user: Callable[..., User], report: DrillReport) -> None:
    """Any field of any form holding bytes that are not UTF-8: 400, never a 5xx."""
    admin = make_user("alice", "alice@example.com", PASSWORD)
    with app.app_context():
        db.session.get(User, admin.id).is_admin = True
        db.session.get(User, admin.id).new_browser_check = False  # signs in by password alone
        db.session.commit()
    visitors = Visitors(app, "alice", PASSWORD)
    targets = [e for e in visitors.discover() if e.fields and not e.csrf_exempt]
    statuses: Counter[int] = Counter()

    @settings(max_examples=MULTIPART_EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        endpoint = data.draw(st.sampled_from(targets), label="endpoint")
        name = data.draw(st.sampled_from(sorted(endpoint.fields)), label="field")
        junk = data.draw(st.sampled_from(INVALID_UTF8), label="junk")
        around = data.draw(st.text(max_size=20), label="text").encode()
        client, token = visitors.ready(endpoint)
        fields = {n: VALID.get(n, "value").encode() for n in endpoint.fields}
        fields |= {"csrf_token": token.encode(), name: around + junk + around}
        response = client.post(endpoint.path, data=multipart(fields),
                               content_type=f"multipart/form-data; boundary={BOUNDARY}")
        statuses[response.status_code] += 1
        assert response.status_code == 400, f"{endpoint.name} {name} -> {response.status_code}"

    fuzz()
    report.counts("multipart with invalid UTF-8", cases=sum(statuses.values()), endpoints=len(targets),
                  refused_400=statuses[400], server_errors=sum(n for s, n in statuses.items() if s >= 500))
