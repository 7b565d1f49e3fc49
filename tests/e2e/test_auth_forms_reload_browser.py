"""Every sign-in and reset form refused in Chromium (a wrong password, a bad address, passwords that
differ), then reloaded and left by Back and Forward: the browser never sends the form again (POSTs
counted as it sends them), and the form's address read by GET is its page, never a 405."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from mailroom.extensions import db
from mailroom.models import User
from mailroom.services import reset
from tests.e2e.conftest import LiveServer

ALICE = "alice@example.com"


def reset_link(live_server: LiveServer, user_id: int) -> str:
    """A fresh emailed reset link for the account, as its path."""
    with live_server.app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        return f"/auth/reset_password/{reset.issue_link_token(user)}"


def refuse(page: Page, path: str, fields: dict[str, str]) -> None:
    """Open a form's page, fill it with what it refuses and send it: the field in error is shown."""
    page.fill(next(iter(fields)), "")  # the page is open; start from empty fields
    for selector, value in fields.items():
        page.fill(selector, value)
    page.click("#submit")
    expect(page.locator("main .is-invalid").first).to_be_visible()
    page.wait_for_load_state("load")  # its scripts have run, as before any reload a person makes


FORMS = {
    "sign-in": ("/auth/login", {"#identifier": "alice", "#password": "not the password"}),
    "reset request": ("/auth/reset_password_request", {"#email": "not an address"}),
    "sign-in code request": ("/auth/login/email", {"#email": "not an address"}),
    "new password": ("", {"#password": "a brand new passphrase", "#password2": "a different passphrase"}),
}


@pytest.mark.parametrize("form", list(FORMS))
def test_a_refused_form_is_never_sent_again_by_reload_or_back(
        page: Page, live_server: LiveServer, make_user: Callable[..., User], console_errors: list[str],
        form: str) -> None:
    alice = make_user()
    path, fields = FORMS[form]
    page.set_viewport_size({"width": 390, "height": 900})
    page.goto(live_server.url("/"))
    page.goto(live_server.url(path or reset_link(live_server, alice.id)))
    address = page.url
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url) if request.method == "POST" else None)
    refuse(page, address, fields)
    assert sent == [address]
    response = page.reload()
    assert response is not None
    assert response.status == 200, "a reload reads the form's page by GET"
    expect(page.locator("#submit")).to_be_visible()
    page.go_back()
    page.go_forward()
    assert sent == [address], "neither reload nor Back and Forward sent the form again"
    assert page.context.request.get(address).status != 405
    assert console_errors == []
