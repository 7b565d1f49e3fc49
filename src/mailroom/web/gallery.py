"""The template gallery at /dev/mail/templates: every email the application sends, rendered with
sample data in text and HTML, without queuing or sending anything. Development only.

Each template pair ``email/<name>.txt|html`` needs an entry in ``SAMPLES`` (a test checks that every
pair has one); rendering is strict, so a variable the sample lacks shows as an error, not a blank.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template
from flask_mailroom.devmail import framed_html
from jinja2 import StrictUndefined, TemplateError

from mailroom.config import DEVELOPMENT
from mailroom.error_reports import Report
from mailroom.urls import external_url

bp = Blueprint("gallery", __name__, url_prefix="/dev/mail/templates")

SAMPLE_MOMENT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
SAMPLE_CODE = "7KQ4MX"
SAMPLE_TOKEN = "sample-token-not-valid"  # noqa: S105 (shown in sample links only)


@dataclass(frozen=True)
class Sample:
    """The context one email's templates are rendered with (the subject is the template's own)."""

    context: dict[str, Any]


def _reset_link() -> Sample:
    """The password reset link email."""
    return Sample({
        "name": "alice", "lifetime": 600, "link": external_url("reset.reset_password", token=SAMPLE_TOKEN),
        "request_link": external_url("reset.reset_password_request")})


def _password_changed() -> Sample:
    """The notice after a password change."""
    return Sample({"name": "alice", "changed_at": SAMPLE_MOMENT,
                   "request_link": external_url("reset.reset_password_request")})


def _signin_attempts() -> Sample:
    """The owner's notice when wrong passwords pile up."""
    return Sample({"name": "alice", "since": SAMPLE_MOMENT,
                   "request_link": external_url("reset.reset_password_request")})


def _new_signin() -> Sample:
    """The owner's notice of a sign-in from a browser the account did not trust yet."""
    return Sample({"name": "alice", "browser": "Firefox", "system": "Windows", "signed_in_at": SAMPLE_MOMENT,
                   "client": "203.0.113.7", "account_link": external_url("account.index") + "#sessions",
                   "request_link": external_url("reset.reset_password_request")})


def _signin_code() -> Sample:
    """The code that signs a browser in without the password."""
    return Sample({"name": "alice", "code": SAMPLE_CODE, "lifetime": 300,
                   "account_link": external_url("account.index")})


def _new_browser_code() -> Sample:
    """The code a browser new to the account types after the right password."""
    return Sample({"name": "alice", "code": SAMPLE_CODE, "lifetime": 300, "browser": "Firefox",
                   "system": "Linux", "client": "203.0.113.7", "at": SAMPLE_MOMENT,
                   "reset_link": external_url("reset.reset_password_request")})


def _register_code() -> Sample:
    """The code that starts a new account."""
    return Sample({"name": "alice", "code": SAMPLE_CODE, "lifetime": 600})


def _register_taken() -> Sample:
    """The notice to an address someone tried to register again."""
    return Sample({
        "name": "alice", "login_url": external_url("auth.login"),
        "reset_url": external_url("reset.reset_password_request")})


def _confirm() -> Sample:
    """The code confirming a new account's address."""
    return Sample({"name": "alice", "code": SAMPLE_CODE, "lifetime": 600,
                   "account_url": external_url("account.index")})


def _change_code() -> Sample:
    """The code sent to a new address."""
    return Sample({"name": "alice", "code": SAMPLE_CODE, "lifetime": 600, "email": "alice.new@example.com"})


def _changed() -> Sample:
    """The notice to the old address, with the revert link."""
    return Sample({
        "name": "alice", "old_email": "alice@example.com", "new_email": "alice.new@example.com",
        "changed_at": SAMPLE_MOMENT, "lifetime": 7 * 86400,
        "revert_url": external_url("account.revert_email", token=SAMPLE_TOKEN)})


def _announcement() -> Sample:
    """One recipient's copy of an announcement."""
    return Sample({
        "subject": "Mailroom news: spring release", "username": "alice", "email": "alice@example.com",
        "greeting": True, "text_body": "We shipped a new account page.\n\nEnjoy it!",
        "html_body": "<p>We shipped a <strong>new account page</strong>.</p><p>Enjoy it!</p>",
        "unsubscribe_url": external_url("unsubscribe.confirm", token=SAMPLE_TOKEN)})


def _error_report() -> Sample:
    """The error report emailed to ADMINS."""
    report = Report(SAMPLE_MOMENT, "ZeroDivisionError: division by zero", "views.py:42 in index",
                    "mailroom.web", "ERROR", "web-1", "GET /account/ (endpoint account.index)",
                    "Traceback (most recent call last):\n  ...\nZeroDivisionError: division by zero", 2, 300)
    return Sample({"report": report, "headline": report.summary})


def _test() -> Sample:
    """The message of ``flask mail send-test``."""
    return Sample({"sent_at": SAMPLE_MOMENT, "address": "you@example.com",
                   "site_url": external_url("main.index")})


SAMPLES: dict[str, Callable[[], Sample]] = {
    "reset_password": _reset_link, "password_changed": _password_changed, "confirm_email": _confirm,
    "email_change_code": _change_code, "email_changed": _changed, "announcement": _announcement,
    "error_report": _error_report, "test": _test, "signin_attempts": _signin_attempts,
    "register_code": _register_code, "register_taken": _register_taken, "new_signin": _new_signin,
    "signin_code": _signin_code, "new_browser_code": _new_browser_code,
}


@dataclass(frozen=True)
class Rendered:
    """One email rendered for the gallery, or the error that stopped it."""

    name: str
    subject: str
    text: str
    html: str
    error: str | None = None


def template_names() -> list[str]:
    """Every email template pair the application has (``email/<name>.txt``), sorted."""
    names = current_app.jinja_env.list_templates(filter_func=lambda n: n.startswith("email/"))
    pairs = {n.removeprefix("email/").removesuffix(".txt") for n in names if n.endswith(".txt")}
    return sorted(name for name in pairs if not name.startswith("_"))  # _layout is not an email


def _strict(template: str, context: dict[str, Any], block: str | None = None) -> str:
    """Render one template (or one of its blocks) as Flask would, but failing on any variable the
    sample lacks; in the page's language, as a recipient reading it would see it."""
    environment = current_app.jinja_env.overlay(undefined=StrictUndefined)
    full = dict(context)
    current_app.update_template_context(full)
    found = environment.get_template(template)
    if block is None:
        return found.render(full)
    return " ".join("".join(found.blocks[block](found.new_context(full))).split())


def render(name: str) -> Rendered:
    """Render a template pair with its sample data; a missing sample or variable is reported."""
    if name not in SAMPLES:
        return Rendered(name, "", "", "", f"no sample data for email/{name}: add it to gallery.SAMPLES")
    sample = SAMPLES[name]()
    try:
        subject = _strict(f"email/{name}.txt", sample.context, "subject")
        context = {"subject": subject, **sample.context}
        text = _strict(f"email/{name}.txt", context)
        html = _strict(f"email/{name}.html", context)
    except TemplateError as error:
        return Rendered(name, "", "", "", f"{type(error).__name__}: {error}")
    return Rendered(name, subject, text, html)


@bp.before_request
def development_only() -> None:
    """Outside development the gallery does not exist."""
    if current_app.config["MAILROOM_ENV"] != DEVELOPMENT:
        abort(404)


@bp.get("", strict_slashes=False)
def index() -> str:
    """Every email, each with its subject, text part and a framed HTML part."""
    return render_template("devmail/gallery.html", emails=[render(n) for n in template_names()])


@bp.get("/<name>.html")
def html(name: str) -> Response:
    """One email's HTML part with sample data, for the sandboxed frame."""
    if name not in template_names():
        abort(404)
    return framed_html(render(name).html)
