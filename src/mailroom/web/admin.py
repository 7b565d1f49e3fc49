"""The admin area: announcements (write, preview, send) and the mail dashboard. Admins only."""

from __future__ import annotations

import mimetypes
import re
from typing import Any

from babel.lists import format_list
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
from flask_babel import format_number, get_locale, get_translations
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_mailroom import deliverability
from flask_mailroom.compose import Attachment
from flask_wtf.file import MultipleFileField
from markupsafe import Markup, escape
from werkzeug.datastructures import FileStorage
from wtforms import BooleanField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from mailroom.domain.errors import N_
from mailroom.domain.languages import HTML_LANG, NATIVE_NAMES
from mailroom.domain.progress import Progress
from mailroom.extensions import login_manager
from mailroom.i18n import _, _n
from mailroom.models import Announcement
from mailroom.services import (
    announcement_drafting,
    announcement_preview,
    announcement_status,
    announcement_text,
    announcements,
    dashboard,
    drafts,
)
from mailroom.web.forms import Form, no_control_characters
from mailroom.web.replies import error_response, json_reply, redirect_with
from mailroom.web.templating import status_label
from mailroom.web.wtforms_messages import Nn_

bp = Blueprint("admin", __name__, url_prefix="/admin")

CONTENT_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")
DEFAULT_HOURS = 3
# The framed HTML preview may use the inline styles emails rely on, but never run anything.
PREVIEW_CSP = ("sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
               "frame-ancestors 'self'")
# How often the announcement page asks how far the sending has come, while it is under way.
PROGRESS_POLL_MS = 2000
# An announcement's states as its page names them (outbox statuses have their own labels).
STATE_LABELS = {"partly failed": N_("partly failed")}
# "1,204 in English": a send's count in one language (read as markup by audience_text).
IN_LANGUAGE = Nn_("%(shown)s in %(language)s", "%(shown)s in %(language)s")
# Why the worker skipped an account email (the builders' Skip reasons), shown translated on the
# admin's timelines; any other detail (a server's reply) is shown as it is.
SKIP_REASONS = frozenset({
    N_("the address's hourly email budget is spent"), N_("no account has this address"),
    N_("the account no longer exists"), N_("the owner turned sign-in notices off"),
    N_("the request names no browser"), N_("no account with this address signs in by code"),
    N_("this browser's code was already sent")})
# The outbox statuses an announcement's page counts its copies in.
COUNTED = ("queued", "sending", "sent", "failed", "skipped", "suppressed", "expired")


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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """The form, its greeting label as plain text: a lazy string passes for markup, and its
        “<name>” would be read as a tag and vanish."""
        super().__init__(*args, **kwargs)
        self.greeting.label.text = str(self.greeting.label.text)


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


def state_label(state: str) -> str:
    """An announcement's state (draft, sending, sent, partly failed, failed) in the page's language."""
    return _(STATE_LABELS[state]) if state in STATE_LABELS else status_label(state)


def progress_text(status: Progress) -> str:
    """How far the sending has come, in one sentence ("3 of 4 delivered, 1 on its way.")."""
    text = _("%(sent)s of %(total)s delivered", sent=format_number(status.sent),
             total=format_number(status.total))
    if status.not_delivered:
        text += _(", %(count)s not delivered", count=format_number(status.not_delivered))
    if status.waiting:
        text += _n(", %(shown)s on its way", ", %(shown)s on their way", status.waiting,
                   shown=format_number(status.waiting))
    return _("%(progress)s.", progress=text)


def language_name(language: str) -> Markup:
    """A language named in itself and tagged as such (read aloud, and left alone by translators)."""
    return Markup('<span lang="{}">{}</span>').format(HTML_LANG[language], NATIVE_NAMES[language])


def _in_language(count: int, language: str) -> Markup:
    """"1,204 in English" as markup: the translated words escaped, the language's name tagged."""
    words = get_translations().ungettext(*IN_LANGUAGE, count)
    return escape(words) % {"shown": format_number(count), "language": language_name(language)}


def audience_text(audience: announcement_status.Audience) -> Markup:
    """Who a send reaches in each language ("1,204 in English, 310 in 简体中文"), as markup."""
    parts = [_in_language(count, language) for language, count in audience.by_version.items()]
    pattern = format_list([f"{{{i}}}" for i in range(len(parts))], locale=get_locale())
    return escape(pattern).format(*parts)


def skip_reason(detail: str) -> str | None:
    """A timeline line's detail in the page's language when it is one of our own skip reasons, else
    None (a server's reply or an error is shown as it is)."""
    return _(detail) if detail in SKIP_REASONS else None


@bp.context_processor
def wording() -> dict[str, Any]:
    """The announcement pages' and timelines' wording helpers, for the admin's pages."""
    return {"state_label": state_label, "progress_text": progress_text, "audience_text": audience_text,
            "language_name": language_name, "skip_reason": skip_reason}


@bp.get("/announcements/<int:announcement_id>")
def show(announcement_id: int) -> ResponseReturnValue:
    """The announcement, each language version as the admin would receive it, and its delivery so
    far (the page's script follows it live while it is under way)."""
    summary = _announcement_or_404(announcement_id)
    response = make_response(render_template(
        "admin/show.html", summary=summary, status=drafts.status_of(summary.announcement, summary.counts),
        poll_ms=PROGRESS_POLL_MS))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/announcements/<int:announcement_id>/progress")
def progress(announcement_id: int) -> ResponseReturnValue:
    """How far the sending has come, as JSON for the announcement page's script: the state, the
    sentence and the copies by outbox status, read now; ``finished`` once nothing is on its way."""
    try:
        found = announcement_status.delivery(announcement_id)
    except LookupError:
        abort(404)
    status = found.progress
    counts = {name: found.counts.get(name, 0) for name in COUNTED}
    response = json_reply(200, progress_text(status), {
        "state": status.state, "label": state_label(status.state), "tone": status.tone,
        "percent": status.percent, "finished": status.state not in ("sending", "draft"),
        "percent_text": _("Copies delivered or given up: %(percent)s%%", percent=status.percent),
        "counts": counts, "shown": {name: format_number(n) for name, n in counts.items()}})
    response.headers["Cache-Control"] = "no-store"
    return response


def _language_or_404(announcement_id: int) -> announcement_preview.Preview:
    """The version ``?language=`` names (the main one by default) as the admin would get it, or 404."""
    language = request.args.get("language", announcement_preview.MAIN)
    try:
        return announcement_preview.one(announcement_id, current_user, language)
    except LookupError:
        abort(404)


@bp.get("/announcements/<int:announcement_id>/preview.html")
def preview_html(announcement_id: int) -> Response:
    """One version's HTML part as the admin would receive it, for a sandboxed frame on the page."""
    response = make_response(_language_or_404(announcement_id).html or "")
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@bp.post("/announcements/<int:announcement_id>/preview")
def preview(announcement_id: int) -> ResponseReturnValue:
    """Email one copy of the announcement to the admin alone: the version ``language`` names, else
    the one the admin reads."""
    language = request.form.get("language") or None
    try:
        announcement_preview.send(announcement_id, current_user, language)
    except announcement_preview.NoSuchVersion:
        return error_response(400, _("language must name one of this announcement's versions."),
                              field="language")
    except LookupError:
        abort(404)
    name = NATIVE_NAMES.get(language or "", "")
    message = (_("A preview in %(language)s is on its way to %(email)s.", language=name,
                 email=current_user.email) if name else
               _("A preview is on its way to %(email)s.", email=current_user.email))
    return redirect_with(message, _shown(announcement_id))


def _audience_or_404(announcement_id: int) -> announcement_status.Audience:
    """Who a send of the announcement started now would reach, or a 404."""
    try:
        return announcement_status.audience_of(announcement_id)
    except LookupError:
        abort(404)


def _confirmation(announcement_id: int, *, changed: bool = False) -> str:
    """The page that asks before a mass send, naming how many it reaches in each language."""
    return render_template("admin/confirm_send.html", announcement=_draft_or_404(announcement_id),
                           audience=_audience_or_404(announcement_id), changed=changed)


@bp.get("/announcements/<int:announcement_id>/send")
def confirm_send(announcement_id: int) -> ResponseReturnValue:
    """Ask before a mass send, naming how many people it reaches in each language."""
    return _confirmation(announcement_id)


@bp.post("/announcements/<int:announcement_id>/send")
def send(announcement_id: int) -> ResponseReturnValue:
    """Start queueing a copy for every confirmed, subscribed user, once the admin confirmed the count
    they were shown; sending again adds only missing copies."""
    announcement = _draft_or_404(announcement_id)
    audience = _audience_or_404(announcement_id)
    if request.form.get("confirm_count") != str(audience.total):
        changed = "confirm_count" in request.form
        return _confirmation(announcement_id, changed=changed), 409 if changed else 400
    if not audience.total and announcement.status == announcement_drafting.QUEUED:
        return redirect_with(_("Everyone it would reach already has a copy."), _shown(announcement_id),
                             "info")
    try:
        started = announcements.send_in_background(announcement_id)
    except LookupError:
        abort(404)
    if started:
        return redirect_with(_("Sending has started: this page follows it."), _shown(announcement_id))
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
    """Look an address up: its suppression, and every email and event for it, newest first."""
    address = request.args.get("address", "").strip()
    if not usable_address(address, required=False):
        return error_response(400, _("address must be one email address."), field="address")
    entries = deliverability.for_address(address) if address else []
    found = deliverability.suppression_of(address) if address else None
    return render_template("admin/address.html", address=address, entries=entries, suppression=found)


@bp.post("/mail/addresses/lift")
def lift_suppression() -> ResponseReturnValue:
    """Mail the address again."""
    address = request.form.get("address", "").strip()
    if not usable_address(address, required=True):
        return error_response(400, _("address must be one email address."), field="address")
    lifted = deliverability.lift(address, f"admin {current_user.email}")
    message = (_("Mail to %(address)s will be sent again.", address=address) if lifted else
               _("%(address)s was not suppressed.", address=address))
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
