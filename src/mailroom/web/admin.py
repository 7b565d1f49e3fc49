"""The admin area: announcements (write, preview, send) and the mail dashboard. Admins only."""

from __future__ import annotations

import mimetypes
import re
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    make_response,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_mailroom import deliverability
from flask_mailroom.compose import Attachment
from flask_wtf.file import MultipleFileField
from werkzeug.datastructures import FileStorage
from wtforms import BooleanField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from mailroom.extensions import login_manager
from mailroom.i18n import _
from mailroom.models import Announcement
from mailroom.services import (
    announcement_copies,
    announcement_drafting,
    announcement_status,
    announcement_text,
    announcements,
    dashboard,
    drafts,
)
from mailroom.web.forms import Form, no_control_characters
from mailroom.web.replies import error_response, redirect_with

bp = Blueprint("admin", __name__, url_prefix="/admin")

CONTENT_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")
DEFAULT_HOURS = 3
# The framed HTML preview may use the inline styles emails rely on, but never run anything.
PREVIEW_CSP = ("sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
               "frame-ancestors 'self'")


def no_nul(form: Any, field: Any) -> None:
    """Refuse NUL characters in multi-line text (line breaks and tabs are fine)."""
    if isinstance(field.data, str) and "\x00" in field.data:
        raise ValidationError(_("This field cannot contain NUL characters."))


def valid_text(form: Any, field: Any) -> None:
    """Refuse U+FFFD: it is what bytes that were not UTF-8 became, so the text arrived damaged."""
    if isinstance(field.data, str) and "\ufffd" in field.data:
        raise ValidationError(_("This field holds bytes that are not valid UTF-8 text."))


class AnnouncementForm(Form):
    """A new announcement: subject, text, optional Markdown for the HTML part, optional files."""

    subject = StringField(_l("Subject"), validators=[
        DataRequired(), Length(max=announcement_text.SUBJECT_MAX), no_control_characters, valid_text])
    text_body = TextAreaField(_l("Text body"), validators=[
        DataRequired(), Length(max=announcement_text.BODY_MAX), no_nul, valid_text])
    markdown_body = TextAreaField(_l("HTML body, written in Markdown (optional)"), validators=[
        Optional(), Length(max=announcement_text.BODY_MAX), no_nul, valid_text])
    greeting = BooleanField(_l("Start each copy with “Hello <name>,”"), default=True)
    attachments = MultipleFileField(_l("Attachments (optional)"))
    # The same announcement for readers of Simplified and Traditional Chinese (optional; readers of a
    # language without its own version get the main one above).
    subject_zh_hans = StringField(_l("Subject"), validators=[
        Optional(), Length(max=announcement_text.SUBJECT_MAX), no_control_characters, valid_text])
    text_body_zh_hans = TextAreaField(_l("Text body"), validators=[
        Optional(), Length(max=announcement_text.BODY_MAX), no_nul, valid_text])
    markdown_body_zh_hans = TextAreaField(_l("HTML body, written in Markdown (optional)"), validators=[
        Optional(), Length(max=announcement_text.BODY_MAX), no_nul, valid_text])
    subject_zh_hant = StringField(_l("Subject"), validators=[
        Optional(), Length(max=announcement_text.SUBJECT_MAX), no_control_characters, valid_text])
    text_body_zh_hant = TextAreaField(_l("Text body"), validators=[
        Optional(), Length(max=announcement_text.BODY_MAX), no_nul, valid_text])
    markdown_body_zh_hant = TextAreaField(_l("HTML body, written in Markdown (optional)"), validators=[
        Optional(), Length(max=announcement_text.BODY_MAX), no_nul, valid_text])
    submit = SubmitField(_l("Save draft"))


TRANSLATED = ("zh_Hans", "zh_Hant")


def versions_of(form: AnnouncementForm) -> dict[str, dict[str, Any]]:
    """The versions the admin wrote in other languages (a subject or a text body makes one)."""
    found = {}
    for language in TRANSLATED:
        subject, text = (getattr(form, f"{name}_{language.lower()}").data or ""
                         for name in ("subject", "text_body"))
        if subject.strip() or text.strip():
            markdown = getattr(form, f"markdown_body_{language.lower()}").data
            found[language] = announcement_text.translated(language, subject, text, markdown)
    return found


def draft_fields(draft: Announcement) -> dict[str, Any]:
    """A draft's stored text as the form's fields, its versions in other languages included."""
    fields = {"subject": draft.subject, "text_body": draft.text_body,
              "markdown_body": draft.markdown_body, "greeting": draft.greeting}
    for language, version in (draft.versions or {}).items():
        if language in TRANSLATED and isinstance(version, dict):
            fields |= {f"{name}_{language.lower()}": version.get(name)
                       for name in ("subject", "text_body", "markdown_body")}
    return fields


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
    latest = announcement_status.recent()
    counts = announcement_status.delivery_counts([a.id for a in latest])
    statuses = {a.id: drafts.status_of(a, counts[a.id]) for a in latest}
    return render_template("admin/index.html", announcements=latest, statuses=statuses)


@bp.route("/announcements/new", methods=["GET", "POST"])
def new() -> ResponseReturnValue:
    """Write an announcement; it is saved as a draft to preview before sending."""
    form = AnnouncementForm()
    if form.validate_on_submit():
        try:
            announcement = announcement_drafting.create(
                form.subject.data or "", form.text_body.data or "", markdown=form.markdown_body.data,
                attachments=uploaded_files(form.attachments.data), author_id=current_user.id,
                greeting=bool(form.greeting.data), versions=versions_of(form))
        except announcement_text.AnnouncementError as error:
            field_error(form, error)
        else:
            return redirect_with(_("Draft saved. Send yourself a preview, then send it to everyone."),
                                 _shown(announcement.id))
    return _form_page(form)


def _form_page(form: AnnouncementForm, draft: Announcement | None = None) -> ResponseReturnValue:
    """The announcement form (new, or a draft's), 400 when it holds errors."""
    return render_template("admin/new.html", form=form, draft=draft,
                           max_files=announcement_text.MAX_ATTACHMENTS,
                           max_mb=announcement_text.MAX_ATTACHMENT_BYTES // (1024 * 1024)), (
        400 if form.errors else 200)


def field_error(form: AnnouncementForm, error: announcement_text.AnnouncementError) -> None:
    """Show a refusal beside the field it names."""
    name = {"status": "subject"}.get(error.field, error.field).replace("html_body", "markdown_body")
    getattr(form, name).errors.append(error.message)


def _shown(announcement_id: int) -> str:
    """The address of an announcement's page."""
    return url_for("admin.show", announcement_id=announcement_id)


def _draft_or_404(announcement_id: int) -> Announcement:
    """The announcement (draft or not), or a 404."""
    try:
        return announcement_drafting.get(announcement_id)
    except LookupError:
        abort(404)


@bp.route("/announcements/<int:announcement_id>/edit", methods=["GET", "POST"])
def edit(announcement_id: int) -> ResponseReturnValue:
    """Change a draft; once sending began it cannot change."""
    draft = _draft_or_404(announcement_id)
    if draft.status != announcement_drafting.DRAFT:
        return redirect_with(_(drafts.NOT_A_DRAFT), _shown(announcement_id), "warning")
    form = AnnouncementForm(data=draft_fields(draft))
    form.submit.label.text = _("Save changes")
    if form.validate_on_submit():
        try:
            drafts.update(announcement_id, form.subject.data or "", form.text_body.data or "",
                          markdown=form.markdown_body.data, greeting=bool(form.greeting.data),
                          attachments=uploaded_files(form.attachments.data), versions=versions_of(form))
        except announcement_text.AnnouncementError as error:
            field_error(form, error)
        else:
            return redirect_with(_("Draft saved."), _shown(announcement_id))
    return _form_page(form, draft)


@bp.post("/announcements/<int:announcement_id>/delete")
def delete(announcement_id: int) -> ResponseReturnValue:
    """Delete a draft; an announcement being sent or sent stays."""
    try:
        subject = drafts.delete(announcement_id)
    except LookupError:
        abort(404)
    except announcement_text.AnnouncementError as error:
        return redirect_with(error.message, _shown(announcement_id), "warning")
    return redirect_with(_("Draft “%(subject)s” deleted.", subject=subject), url_for("admin.index"))


def _announcement_or_404(announcement_id: int) -> announcement_status.Summary:
    """The announcement's summary as the current admin would receive it, or a 404."""
    try:
        return announcement_status.summary(announcement_id, current_user)
    except LookupError:
        abort(404)


@bp.get("/announcements/<int:announcement_id>")
def show(announcement_id: int) -> str:
    """The announcement, its text as the admin would receive it, and its delivery so far."""
    summary = _announcement_or_404(announcement_id)
    return render_template("admin/show.html", summary=summary,
                           status=drafts.status_of(summary.announcement, summary.counts))


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
        announcement_copies.preview(announcement_id, current_user)
    except LookupError:
        abort(404)
    return redirect_with(_("A preview is on its way to %(email)s.", email=current_user.email),
                         _shown(announcement_id))


@bp.get("/announcements/<int:announcement_id>/send")
def confirm_send(announcement_id: int) -> ResponseReturnValue:
    """Ask before a mass send, naming how many people it reaches."""
    return render_template("admin/confirm_send.html", summary=_announcement_or_404(announcement_id),
                           changed=False)


@bp.post("/announcements/<int:announcement_id>/send")
def send(announcement_id: int) -> ResponseReturnValue:
    """Start queueing a copy for every confirmed, subscribed user, once the admin confirmed the count
    they were shown; sending again adds only missing copies."""
    summary = _announcement_or_404(announcement_id)
    if request.form.get("confirm_count") != str(summary.eligible_now):
        changed = "confirm_count" in request.form
        return render_template("admin/confirm_send.html", summary=summary, changed=changed), (
            409 if changed else 400)
    try:
        started = announcements.send_in_background(announcement_id)
    except LookupError:
        abort(404)
    if started:
        started_text = _("Sending has started: copies are being queued. Refresh this page to follow it.")
        return redirect_with(started_text, _shown(announcement_id))
    return redirect_with(_("This announcement is already being queued."), _shown(announcement_id), "info")


def duration(seconds: float | None) -> str:
    """A short human reading of a number of seconds."""
    if seconds is None:
        return _("nothing queued")
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return _("%(hours)d h %(minutes)d min", hours=hours, minutes=minutes)
    if minutes:
        return _("%(minutes)d min %(seconds)d s", minutes=minutes, seconds=secs)
    return _("%(seconds)d s", seconds=secs)


def _period() -> tuple[int, int | None]:
    """The chart's hours (0 when invalid) and the pixel width the browser measured, if any."""
    raw = request.args.get("hours", str(DEFAULT_HOURS))
    width = request.args.get("width", "")
    return (int(raw) if raw.isdigit() else 0), (int(width) if width.isdigit() and len(width) < 6 else None)


def _bad_period() -> ResponseReturnValue:
    """The refusal for an hours value out of range."""
    return error_response(400, _("hours must be a whole number from 1 to %(max)d.", max=dashboard.MAX_HOURS),
                          field="hours")


@bp.get("/dashboard")
def dashboard_page() -> ResponseReturnValue:
    """Counts by status, the oldest queued age, the delivery chart (laid out for ``width`` pixels when
    the page's script measured it) and the recent failures."""
    hours, width = _period()
    if not 1 <= hours <= dashboard.MAX_HOURS:
        return _bad_period()
    view = dashboard.overview_for(hours, width)
    response = make_response(render_template("admin/dashboard.html", view=view, duration=duration))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/outbox/retry")
def retry() -> ResponseReturnValue:
    """Queue failed messages again: one (``message_id``) or all of them."""
    raw = request.form.get("message_id", "")
    if raw and not raw.isdigit():
        return error_response(400, _("message_id must be a message number."), field="message_id")
    count = dashboard.retry_failed([int(raw)] if raw else None)
    return redirect_with(_("%(count)d failed message(s) queued again.", count=count),
                         url_for("admin.dashboard_page"), "success" if count else "info")


# --- deliverability: suppressions and "why didn't I get the email?" ------------------------------


def usable_address(address: str, *, required: bool) -> bool:
    """An address field an admin typed: not too long, no control characters, present if required."""
    if not address:
        return not required
    return len(address) <= 320 and not any(ord(c) < 32 or ord(c) == 127 for c in address)


@bp.get("/mail/addresses")
def address_timeline() -> ResponseReturnValue:
    """Look an address up: its suppression, and every email and event for it in order."""
    address = request.args.get("address", "").strip()
    if not usable_address(address, required=False):
        return error_response(400, "address must be one email address.", field="address")
    entries = deliverability.for_address(address) if address else []
    found = deliverability.suppression_of(address) if address else None
    return render_template("admin/address.html", address=address, entries=entries, suppression=found)


@bp.post("/mail/addresses/lift")
def lift_suppression() -> ResponseReturnValue:
    """Mail the address again."""
    address = request.form.get("address", "").strip()
    if not usable_address(address, required=True):
        return error_response(400, "address must be one email address.", field="address")
    lifted = deliverability.lift(address, f"admin {current_user.email}")
    message = f"Mail to {address} will be sent again." if lifted else f"{address} was not suppressed."
    return redirect_with(message, url_for("admin.address_timeline", address=address),
                         "success" if lifted else "info")


@bp.get("/mail/suppressions")
def suppression_list() -> str:
    """Every suppressed address, newest first."""
    return render_template("admin/suppressions.html", suppressions=deliverability.suppressions())


@bp.get("/mail/messages/<int:message_id>")
def message_timeline(message_id: int) -> ResponseReturnValue:
    """One message: its headers (never its body) and what happened to it."""
    try:
        row, entries = deliverability.for_message(message_id)
    except LookupError:
        abort(404)
    return render_template("admin/message.html", row=row, entries=entries,
                           headers=deliverability.headers_of(row))
