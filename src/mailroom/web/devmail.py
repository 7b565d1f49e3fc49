"""The development mailbox at /dev/mail: every message delivered in development, readable in the browser.

It answers 404 unless MAILROOM_ENV is development. A message's HTML part is served by its own
route with a CSP that forbids scripts and every remote load, and shown in a sandboxed iframe.
"""

from __future__ import annotations

import io

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue

from mailroom.config import DEVELOPMENT
from mailroom.mail import mailbox

bp = Blueprint("devmail", __name__, url_prefix="/dev/mail")

# The HTML part may style itself and show inline images; nothing runs and nothing is fetched.
HTML_PART_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data: cid:; font-src data:; "
                 "base-uri 'self'; form-action 'none'; frame-ancestors 'self'; sandbox allow-popups "
                 "allow-popups-to-escape-sandbox")
# Links in the framed part open in a new tab, outside the sandbox (the iframe allows popups only).
BASE_TARGET = '<base target="_blank">'


@bp.before_request
def development_only() -> None:
    """Outside development the mailbox does not exist."""
    if current_app.config["MAILROOM_ENV"] != DEVELOPMENT:
        abort(404)


@bp.get("", strict_slashes=False)
def index() -> str:
    """The newest messages first."""
    return render_template("devmail/index.html", messages=mailbox.latest())


@bp.get("/<int:mail_id>")
def message(mail_id: int) -> str:
    """One message: text, HTML (framed), headers, raw source and attachments."""
    try:
        shown = mailbox.view(mail_id)
    except LookupError:
        abort(404)
    return render_template("devmail/message.html", mail=shown)


@bp.get("/<int:mail_id>/html")
def html_part(mail_id: int) -> Response:
    """The HTML part alone, under a CSP of its own, for the sandboxed frame."""
    try:
        html = mailbox.html_part(mail_id)
    except LookupError:
        abort(404)
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
