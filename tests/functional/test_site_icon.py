"""The site's icon: declared by every page and answered at /favicon.ico without writing the
session, so the request a browser makes on its own beside the page's next one cannot undo what
that one stores in the session cookie (a reset link's handoff was lost that way)."""

from __future__ import annotations

from flask.testing import FlaskClient


def test_pages_declare_the_icon_and_it_is_served_as_svg(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    assert '<link rel="icon" type="image/svg+xml" href="/static/favicon.svg">' in page
    icon = client.get("/static/favicon.svg")
    try:
        assert (icon.status_code, icon.mimetype) == (200, "image/svg+xml")
        assert icon.get_data(as_text=True).startswith("<svg")
    finally:
        icon.close()


def test_the_default_icon_address_leaves_the_session_as_it_was(client: FlaskClient) -> None:
    assert client.get("/").status_code == 200  # a new visitor: the first page starts the session
    answer = client.get("/favicon.ico")
    assert (answer.status_code, answer.location) == (301, "/static/favicon.svg")
    assert answer.headers.getlist("Set-Cookie") == []
