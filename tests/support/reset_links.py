"""Opening a reset link as a browser does: the token goes into the session, the page has none."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

LANDING = "/auth/reset_password"


def open_link(client: FlaskClient, token: str) -> TestResponse:
    """Follow the emailed link to the token-free page it redirects to."""
    return client.get(f"{LANDING}/{token}", follow_redirects=True)


def post_new_password(client: FlaskClient, token: str, data: dict[str, Any], **kwargs: Any) -> TestResponse:
    """Open the link (its token moves into the session), then post the form of the landing page."""
    client.get(f"{LANDING}/{token}", **kwargs)
    return client.post(LANDING, data=data, **kwargs)
