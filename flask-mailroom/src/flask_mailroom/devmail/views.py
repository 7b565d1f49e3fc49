"""The development mailbox: every message delivered in development, readable in the browser.

A blueprint of the mail extension, which ``Mail.init_app`` mounts at ``MAIL_DEV_MAILBOX_URL``
(``/dev/mail``) when ``MAIL_DEV_MAILBOX`` is on (development only); it answers 404 if that is
turned off later. Its pages extend ``MAIL_DEV_MAILBOX_LAYOUT`` (its own plain layout, or the
host's with ``title``, ``content`` and ``scripts`` blocks). Their text is in the package's
catalogue (``flask_mailroom.i18n``), and what they call comes from the blueprint's context
processor: the host's Jinja environment gets no filter, global or extension. A message's HTML
part is served by its own route with a CSP that forbids scripts and every remote load, and shown
in a sandboxed iframe.
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
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue

from flask_mailroom import i18n
from flask_mailroom.devmail import linkcheck, mailbox
from flask_mailroom.i18n import gettext, ngettext
from flask_mailroom.store import state

bp = Blueprint("devmail", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")
INDEX = "mailroom_mail/devmail/index.html"
MESSAGE = "mailroom_mail/devmail/message.html"
CLEAR = "mailroom_mail/devmail/clear.html"

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


@bp.context_processor
def template_helpers() -> dict[str, Any]:
    """The package's gettext and formatters, for the mailbox's pages (and the layout they extend)."""
    return i18n.template_functions()


@bp.before_request
def development_only() -> None:
    """Outside development the mailbox does not exist."""
    if not current_app.config.get("MAIL_DEV_MAILBOX"):
        abort(404)


def json_reply(status: int, message: str, data: dict[str, Any]) -> Response:
    """The JSON shape the pages read: ``{"code", "message", "data"}``."""
    response = jsonify({"code": status, "message": message, "data": data})
    response.status_code = status
    return response


def query() -> str:
    """The search words of this request (``q``), bounded."""
    return request.args.get("q", "")[:200].strip()


def catcher_command() -> str:
    """How this application starts the SMTP catcher: ``flask mail catcher`` in the CLI group it chose."""
    return f"flask {state().cli_group or 'mail'} catcher"


@bp.get("", strict_slashes=False)
def index() -> str:
    """The newest messages first, or those matching the search."""
    return render_template(INDEX, messages=mailbox.search(query()), query=query(), catcher=catcher_command())


def listed(summary: mailbox.Summary) -> dict[str, Any]:
    """One list line as JSON, for the live list."""
    return {"id": summary.id, "received_at": i18n.format_datetime(summary.received_at, "short"),
            "subject": summary.subject, "to": ", ".join(summary.rcpt_to), "from": summary.mail_from,
            "source": summary.source, "url": url_for("devmail.message", mail_id=summary.id)}


@bp.get("/messages")
def messages() -> Response:
    """The list (search included) as JSON, which the page polls to show new mail without a reload."""
    found = mailbox.search(query())
    return json_reply(200, ngettext("%(num)d message.", "%(num)d messages.", len(found)),
                      {"messages": [listed(m) for m in found]})


@bp.get("/<int:mail_id>")
def message(mail_id: int) -> str:
    """One message: text, HTML (framed), headers, raw source and attachments."""
    try:
        shown = mailbox.view(mail_id)
    except LookupError:
        abort(404)
    return render_template(MESSAGE, mail=shown)


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
        found = mailbox.links_of(mail_id)
    except LookupError:
        abort(404)
    busy = linkcheck.single_threaded_port(request.environ)
    checked = [{"url": s.url, "checked": s.checked, "status": s.status, "ok": s.ok, "note": s.note,
                "elapsed_ms": s.elapsed_ms} for s in linkcheck.check_all(found, busy=busy)]
    return json_reply(200, ngettext("%(num)d link checked.", "%(num)d links checked.", len(checked)),
                      {"links": checked})


@bp.post("/<int:mail_id>/delete")
def delete(mail_id: int) -> ResponseReturnValue:
    """Delete one message."""
    try:
        mailbox.remove(mail_id)
    except LookupError:
        abort(404)
    flash(gettext("Message deleted."), "success")
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


@bp.route("/clear", methods=["GET", "POST"])
def clear() -> ResponseReturnValue:
    """Empty the mailbox once asked and confirmed: a GET (or a post without ``confirmed``) only asks."""
    if request.method == "GET" or request.form.get("confirmed") != "yes":
        return render_template(CLEAR, count=mailbox.count())
    removed = mailbox.clear()
    flash(gettext("Removed %(count)s message(s) from the development mailbox.", count=removed), "success")
    return redirect(url_for("devmail.index"))
