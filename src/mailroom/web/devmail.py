"""The development mailbox at /dev/mail: every message delivered in development, readable in the browser.

It answers 404 unless MAILROOM_ENV is development. A message's HTML part is served by its own
route with a CSP that forbids scripts and every remote load, and shown in a sandboxed iframe.
"""

from __future__ import annotations

import io
import re
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue

from mailroom.config import DEVELOPMENT
from mailroom.mail import linkcheck, mailbox
from mailroom.web.http import json_reply

bp = Blueprint("devmail", __name__, url_prefix="/dev/mail")

# The HTML part may style itself and show inline images; nothing runs and nothing is fetched.
HTML_PART_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data: cid:; font-src data:; "
                 "base-uri 'self'; form-action 'none'; frame-ancestors 'self'; sandbox allow-popups "
                 "allow-popups-to-escape-sandbox")
# Links in the framed part open in a new tab, outside the sandbox (the iframe allows popups only).
BASE_TARGET = '<base target="_blank">'
# Dark preview: a message with dark-mode styles gets them; one without is inverted, as the clients
# that force dark mode (Gmail and Outlook apps) show it.
PREFERS = re.compile(r"\(\s*prefers-color-scheme\s*:\s*(dark|light)\s*\)", re.IGNORECASE)
ALWAYS, NEVER = "(min-width: 0px)", "(max-width: 0px)"
DARK_CANVAS = '<meta name="color-scheme" content="dark"><style>:root { color-scheme: dark; }</style>'
INVERTED = ("<style>html { filter: invert(1) hue-rotate(180deg); background: #fff; } "
            "img, picture, video { filter: invert(1) hue-rotate(180deg); }</style>")


@bp.before_request
def development_only() -> None:
    """Outside development the mailbox does not exist."""
    if current_app.config["MAILROOM_ENV"] != DEVELOPMENT:
        abort(404)


def query() -> str:
    """The search words of this request (``q``), bounded."""
    return request.args.get("q", "")[:200].strip()


@bp.get("", strict_slashes=False)
def index() -> str:
    """The newest messages first, or those matching the search."""
    return render_template("devmail/index.html", messages=mailbox.search(query()), query=query())


def listed(summary: mailbox.Summary) -> dict[str, Any]:
    """One list line as JSON, for the live list."""
    return {"id": summary.id, "received_at": summary.received_at.strftime("%Y-%m-%d %H:%M:%S"),
            "subject": summary.subject, "to": ", ".join(summary.rcpt_to), "from": summary.mail_from,
            "source": summary.source, "url": url_for("devmail.message", mail_id=summary.id)}


@bp.get("/messages")
def messages() -> Response:
    """The list (search included) as JSON, which the page polls to show new mail without a reload."""
    found = mailbox.search(query())
    return json_reply(200, f"{len(found)} message(s)", {"messages": [listed(m) for m in found]})


@bp.get("/<int:mail_id>")
def message(mail_id: int) -> str:
    """One message: text, HTML (framed), headers, raw source and attachments."""
    try:
        shown = mailbox.view(mail_id)
    except LookupError:
        abort(404)
    return render_template("devmail/message.html", mail=shown)


def darkened(html: str) -> str:
    """The HTML as a dark-mode client shows it: its own dark styles, else inverted colours."""
    if PREFERS.search(html):
        return DARK_CANVAS + PREFERS.sub(lambda m: ALWAYS if m[1].lower() == "dark" else NEVER, html)
    return INVERTED + html


@bp.get("/<int:mail_id>/html")
def html_part(mail_id: int) -> Response:
    """The HTML part alone (``?scheme=dark`` for the dark preview), under a CSP of its own."""
    try:
        html = mailbox.html_part(mail_id)
    except LookupError:
        abort(404)
    return framed_html(darkened(html) if request.args.get("scheme") == "dark" else html)


def framed_html(html: str) -> Response:
    """An HTML body for the sandboxed preview frame: nothing runs, nothing is fetched."""
    response = Response(BASE_TARGET + html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = HTML_PART_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/<int:mail_id>/raw")
def raw(mail_id: int) -> Response:
    """The message source exactly as received, as plain text."""
    try:
        data = mailbox.raw(mail_id)
    except LookupError:
        abort(404)
    return Response(data, mimetype="text/plain", headers={"X-Content-Type-Options": "nosniff"})


@bp.get("/<int:mail_id>.eml")
def eml(mail_id: int) -> Response:
    """The message as an ``.eml`` file, to open in a mail client."""
    try:
        data, name = mailbox.raw(mail_id), mailbox.filename(mail_id)
    except LookupError:
        abort(404)
    return send_file(io.BytesIO(data), mimetype="message/rfc822", as_attachment=True, download_name=name)


@bp.get("/<int:mail_id>/links")
def links(mail_id: int) -> Response:
    """Every link of the message with its status; only loopback links are requested."""
    try:
        found = mailbox.view(mail_id).links
    except LookupError:
        abort(404)
    checked = [{"url": s.url, "checked": s.checked, "status": s.status, "ok": s.ok, "note": s.note}
               for s in linkcheck.check_all(found)]
    return json_reply(200, f"{len(checked)} link(s)", {"links": checked})


@bp.post("/<int:mail_id>/delete")
def delete(mail_id: int) -> ResponseReturnValue:
    """Delete one message."""
    try:
        mailbox.remove(mail_id)
    except LookupError:
        abort(404)
    flash("Message deleted.", "success")
    return redirect(url_for("devmail.index"))


@bp.get("/<int:mail_id>/attachments/<int:index>")
def attachment(mail_id: int, index: int) -> Response:
    """Download one attachment (always as a download, never rendered here)."""
    try:
        part, data = mailbox.attachment(mail_id, index)
    except LookupError:
        abort(404)
    return send_file(io.BytesIO(data), mimetype=part.content_type, as_attachment=True,
                     download_name=part.filename)


@bp.post("/clear")
def clear() -> ResponseReturnValue:
    """Empty the mailbox."""
    removed = mailbox.clear()
    flash(f"Removed {removed} message(s) from the development mailbox.", "success")
    return redirect(url_for("devmail.index"))
