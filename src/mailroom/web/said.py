"""A page's answer to its own form, kept across the redirect (post/redirect/get).

A refused or accepted form answers with a 303 back to its page; the answer waits in the session
for that page's next view only, so a reload or Back never sends the form again. It holds the
sentence shown, never what was typed (no code, no password).
"""

from __future__ import annotations

from typing import Any

from flask import redirect, request, session, url_for
from werkzeug.wrappers.response import Response as BaseResponse

KEY = "said"


def say(message: str, endpoint: str, category: str = "danger") -> BaseResponse:
    """Keep an answer for the page at ``endpoint`` (read once) and go there (303 See Other)."""
    session[KEY] = {"page": endpoint, "message": str(message), "category": category}
    return redirect(url_for(endpoint), 303)


def said(endpoint: str) -> tuple[str, str] | None:
    """The answer kept for this view of the page at ``endpoint`` (a GET), forgotten once read."""
    if request.method != "GET" or KEY not in session:
        return None
    kept: Any = session.pop(KEY)
    if isinstance(kept, dict) and kept.get("page") == endpoint and isinstance(kept.get("message"), str):
        return kept["message"], str(kept.get("category") or "danger")
    return None
