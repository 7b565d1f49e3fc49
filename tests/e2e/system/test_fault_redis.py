"""Drill: Redis stops. Code endpoints answer 503 JSON, every other page works, and then it recovers."""

from __future__ import annotations

from flask import Flask

from mailroom import create_app
from tests.e2e.deploy.deployment import Deployment
from tests.e2e.deploy.drills import SEEDED_PASSWORD, code_in, seed_users, seeded_address
from tests.e2e.deploy.report import DrillReport
from tests.e2e.deploy.surface import pages
from tests.e2e.deploy.web import WebClient, leaks_trace

PREFIX = "redisdrill"
NEW_ADDRESS = "redisdrill-moved@e2e.example"
CODE_SUBJECT = "verification code"
NOTICE_SUBJECT = "address was changed"


def site_map() -> Flask:
    """An in-process app, only to read the deployed code's url_map (same code, same routes)."""
    return create_app({"MAILROOM_ENV": "testing", "SECRET_KEY": "x" * 32,
                       "SQLALCHEMY_DATABASE_URI": "sqlite://", "SERVER_NAME": "mailroom.test"})


def page_statuses(live: Deployment, clients: dict[str, WebClient], paths: list[str]) -> dict[str, int]:
    """The status of every GET page for each visitor."""
    return {f"{who} GET {path}": client.get(path).status for who, client in clients.items()
            for path in paths}


def code_requests(member: WebClient, newcomer: WebClient) -> dict[str, tuple[int, object]]:
    """Each code endpoint called as the page's script calls it: status and JSON body."""
    calls = {
        "send code": (member, "/account/email/code", {"email": NEW_ADDRESS, "password": SEEDED_PASSWORD}),
        "change with code": (member, "/account/email", {"code": "ABCDEF", "email": NEW_ADDRESS}),
        "confirm with code": (newcomer, "/account/confirm", {"code": "ABCDEF"}),
        "resend confirmation": (newcomer, "/account/confirm/resend", {}),
    }
    results = {}
    for name, (client, path, body) in calls.items():
        reply = client.post_json(path, body, client.csrf("/account/"))
        results[name] = (reply.status, reply.json() if reply.headers.get("content-type", "").startswith(
            "application/json") else reply.body[:200])
    return results


def test_redis_outage_fails_only_the_code_endpoints(live: Deployment, report: DrillReport) -> None:
    member_address, admin_address = seed_users(live, PREFIX, 2)
    live.flask("users", "grant-admin", admin_address)
    # An account whose address is not confirmed yet (registration confirms it, so it is seeded).
    live.python("tests.e2e.deploy.seed", "users", "--prefix", "redisdrillnew", "--count", "1",
                "--password", SEEDED_PASSWORD, "--unconfirmed")
    newcomer = WebClient(live.base_url)
    assert newcomer.sign_in(seeded_address("redisdrillnew", 0), SEEDED_PASSWORD).status == 302
    member = WebClient(live.base_url)
    assert member.sign_in(member_address, SEEDED_PASSWORD).status == 302
    admin = WebClient(live.base_url)
    since = live.provider.count()
    assert admin.sign_in(admin_address, SEEDED_PASSWORD).status == 302
    # An admin's new browser types the code emailed after the right password (the new-browser check).
    check = code_in(live.provider.wait_for(admin_address, "new browser", since))
    assert admin.post_form("/auth/login/new-browser", {
        "code": check, "csrf_token": admin.csrf("/auth/login/new-browser")}).status == 302
    clients = {"anonymous": WebClient(live.base_url), "member": member, "admin": admin}
    paths = pages(site_map())
    before = page_statuses(live, clients, paths)
    assert before["anonymous GET /"] == before["member GET /account/"] == before["admin GET /admin/"] == 200

    live.redis.stop()
    try:
        during = page_statuses(live, clients, paths)
        codes = code_requests(member, newcomer)
        fresh = WebClient(live.base_url)
        signed_in = fresh.sign_in(member_address, SEEDED_PASSWORD).status
        reset = fresh_reset(live, member_address)
    finally:
        live.redis.start()

    changed = {name: (before[name], during[name]) for name in before if before[name] != during[name]}
    report.counts("Redis stopped", pages_checked=len(during),
                  pages_200_before=sum(1 for s in before.values() if s == 200),
                  pages_200_during=sum(1 for s in during.values() if s == 200),
                  pages_changed=len(changed),
                  code_endpoints_503=sum(1 for s, _ in codes.values() if s == 503),
                  sign_in=signed_in, reset_request=reset)
    for name, (status, body) in codes.items():
        report.line(f"while down: {name} -> {status} {body}")
    assert not changed, f"pages that changed while Redis was down: {changed}"
    for name, (status, body) in codes.items():
        assert status == 503, f"{name}: {status} {body}"
        assert isinstance(body, dict), body
        assert (body["code"], bool(body["message"]), "data" in body) == (503, True, True)
        assert not leaks_trace(str(body))
    assert signed_in == 302
    assert reset == 302

    since = live.provider.count()
    sent = member.post_json("/account/email/code", {"email": NEW_ADDRESS, "password": SEEDED_PASSWORD},
                            member.csrf("/account/"))
    assert sent.status == 200, sent.body
    code = code_in(live.provider.wait_for(NEW_ADDRESS, CODE_SUBJECT, since))
    changed_reply = member.post_json("/account/email", {"code": code.lower(), "email": NEW_ADDRESS},
                                     member.csrf("/account/"))
    assert changed_reply.status == 200, changed_reply.body
    notice = live.provider.wait_for(member_address, NOTICE_SUBJECT, since)
    assert NEW_ADDRESS in member.get("/account/").body
    report.counts("after Redis returned", send_code=sent.status, change=changed_reply.status,
                  code_email_received=1, notice_to_old_address=int(bool(notice)))


def fresh_reset(live: Deployment, address: str) -> int:
    """A reset request from a new visitor: its status."""
    client = WebClient(live.base_url)
    token = client.csrf("/auth/reset_password_request")
    return client.post_form("/auth/reset_password_request", {"email": address, "csrf_token": token}).status
