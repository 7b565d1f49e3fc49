"""The admin area: announcements (write, preview, send) and the mail dashboard. Admins only."""

from __future__ import annotations

import mimetypes
import re
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from werkzeug.datastructures import FileStorage
from wtforms import StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from mailroom.extensions import login_manager
from mailroom.mail.compose import Attachment
from mailroom.services import announcements, dashboard
from mailroom.web.errors import error_response
from mailroom.web.forms import no_control_characters

bp = Blueprint("admin", __name__, url_prefix="/admin")

CONTENT_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")
DEFAULT_HOURS = 3
# The framed HTML preview may use the inline styles emails rely on, but never run anything.
PREVIEW_CSP = ("sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
               "frame-ancestors 'self'")


def no_nul(form: Any, field: Any) -> None:
    """Refuse NUL characters in multi-line text (line breaks and tabs are fine)."""
    if isinstance(field.data, str) and "\x00" in field.data:
        raise ValidationError("This field cannot contain NUL characters.")


def valid_text(form: Any, field: Any) -> None:
    """Refuse U+FFFD: it is what bytes that were not UTF-8 became, so the text arrived damaged."""
    if isinstance(field.data, str) and "\ufffd" in field.data:
        raise ValidationError("This field holds bytes that are not valid UTF-8 text.")


class AnnouncementForm(FlaskForm):
    """A new announcement: subject, text, optional Markdown for the HTML part, optional files."""

    subject = StringField("Subject", validators=[
        DataRequired(), Length(max=announcements.SUBJECT_MAX), no_control_characters, valid_text])
    text_body = TextAreaField("Text body", validators=[
        DataRequired(), Length(max=announcements.BODY_MAX), no_nul, valid_text])
    markdown_body = TextAreaField("HTML body, written in Markdown (optional)", validators=[
        Optional(), Length(max=announcements.BODY_MAX), no_nul, valid_text])
    attachments = MultipleFileField("Attachments (optional)")
    submit = SubmitField("Save draft")


@bp.before_request
def require_admin() -> ResponseReturnValue | None:
    """Anonymous visitors are sent to sign in; signed-in users who are not admins get 403."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()  # type: ignore[no-any-return]
    if not current_user.is_admin:
        abort(403)
    return None


def _content_type(upload: FileStorage, filename: str) -> str:
    """The upload's declared type when well formed, else a guess from the name."""
    declared = upload.mimetype or ""
    if CONTENT_TYPE.match(declared) and declared != "application/octet-stream":
        return declared
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def uploaded_files(uploads: list[FileStorage] | None) -> list[Attachment]:
    """The chosen files as attachments; a browser sends one empty part when none was chosen."""
    files = []
    for upload in uploads or []:
        name = re.split(r"[\\/]", upload.filename or "")[-1].strip()
        if name:
            files.append(Attachment(name, _content_type(upload, name), upload.read()))
    return files


@bp.get("/")
def index() -> str:
    """The latest announcements with how far each has been delivered."""
    latest = announcements.recent()
    counts = announcements.delivery_counts([a.id for a in latest])
    return render_template("admin/index.html", announcements=latest, counts=counts)


@bp.route("/announcements/new", methods=["GET", "POST"])
def new() -> ResponseReturnValue:
    """Write an announcement; it is saved as a draft to preview before sending."""
    form = AnnouncementForm()
    if form.validate_on_submit():
        try:
            announcement = announcements.create(
                form.subject.data or "", form.text_body.data or "", markdown=form.markdown_body.data,
                attachments=uploaded_files(form.attachments.data), author_id=current_user.id)
        except announcements.AnnouncementError as error:
            getattr(form, error.field if error.field != "html_body" else "markdown_body").errors.append(
                error.message)
        else:
            flash("Draft saved. Send yourself a preview, then send it to everyone.", "success")
            return redirect(url_for("admin.show", announcement_id=announcement.id))
    return render_template("admin/new.html", form=form, max_files=announcements.MAX_ATTACHMENTS,
                           max_mb=announcements.MAX_ATTACHMENT_BYTES // (1024 * 1024)), (
        400 if form.errors else 200)


def _announcement_or_404(announcement_id: int) -> announcements.Summary:
    """The announcement's summary as the current admin would receive it, or a 404."""
    try:
        return announcements.summary(announcement_id, current_user)
    except LookupError:
        abort(404)


@bp.get("/announcements/<int:announcement_id>")
def show(announcement_id: int) -> str:
    """The announcement, its text as the admin would receive it, and its delivery so far."""
    return render_template("admin/show.html", summary=_announcement_or_404(announcement_id))


@bp.get("/announcements/<int:announcement_id>/preview.html")
def preview_html(announcement_id: int) -> Response:
    """The HTML part as the admin would receive it, for a sandboxed frame on the announcement page."""
    response = make_response(_announcement_or_404(announcement_id).html or "")
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@bp.post("/announcements/<int:announcement_id>/preview")
def preview(announcement_id: int) -> ResponseReturnValue:
    """Email one copy of the announcement to the admin alone."""
    try:
        announcements.preview(announcement_id, current_user)
    except LookupError:
        abort(404)
    flash(f"A preview is on its way to {current_user.email}.", "success")
    return redirect(url_for("admin.show", announcement_id=announcement_id))


@bp.post("/announcements/<int:announcement_id>/send")
def send(announcement_id: int) -> ResponseReturnValue:
    """Start queueing a copy for every confirmed, subscribed user; sending again adds only missing copies."""
    try:
        started = announcements.send_in_background(announcement_id)
    except LookupError:
        abort(404)
    if started:
        flash("Sending has started: copies are being queued. Refresh this page to follow it.", "success")
    else:
        flash("This announcement is already being queued.", "info")
    return redirect(url_for("admin.show", announcement_id=announcement_id))


def duration(seconds: float | None) -> str:
    """A short human reading of a number of seconds."""
    if seconds is None:
        return "nothing queued"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


@bp.get("/dashboard")
def dashboard_page() -> ResponseReturnValue:
    """Counts by status, the oldest queued age, the per-minute chart and the recent failures."""
    raw = request.args.get("hours", str(DEFAULT_HOURS))
    hours = int(raw) if raw.isdigit() else 0
    if not 1 <= hours <= dashboard.MAX_HOURS:
        return error_response(400, f"hours must be a whole number from 1 to {dashboard.MAX_HOURS}.",
                              field="hours")
    return render_template("admin/dashboard.html", view=dashboard.overview(hours), duration=duration)


@bp.post("/outbox/retry")
def retry() -> ResponseReturnValue:
    """Queue failed messages again: one (``message_id``) or all of them."""
    raw = request.form.get("message_id", "")
    if raw and not raw.isdigit():
        return error_response(400, "message_id must be a message number.", field="message_id")
    count = dashboard.retry_failed([int(raw)] if raw else None)
    flash(f"{count} failed message(s) queued again.", "success" if count else "info")
    return redirect(url_for("admin.dashboard_page"))
