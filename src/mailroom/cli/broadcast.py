"""``flask --app mailroom mail broadcast``: an announcement to every user, from the command line."""

from __future__ import annotations

import mimetypes
from pathlib import Path

import click
from flask.cli import with_appcontext
from flask_mailroom.compose import Attachment
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mailroom.models import Announcement
from mailroom.services import announcements
from mailroom.services.announcement_audience import count_recipients
from mailroom.services.announcement_drafting import create, find_unfinished
from mailroom.services.announcement_text import AnnouncementError, render_markdown

MARKDOWN_SUFFIXES = {".md", ".markdown"}


def read_text(path: Path, option: str) -> str:
    """A UTF-8 text file's content, or a clear error naming the option."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise click.BadParameter(f"{path} is not UTF-8 text", param_hint=option) from None


def read_attachment(path: Path) -> Attachment:
    """A file as an attachment, its type guessed from its name."""
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return Attachment(path.name, content_type, path.read_bytes())


def html_parts(path: Path | None) -> tuple[str | None, str | None]:
    """(markdown, html) from --html: a .md file is Markdown, anything else the operator's own HTML."""
    if path is None:
        return None, None
    source = read_text(path, "--html")
    return (source, None) if path.suffix.lower() in MARKDOWN_SUFFIXES else (None, source)


def announcement_for(subject: str, text: str, html_path: Path | None,
                     files: list[Attachment]) -> tuple[Announcement, bool]:
    """The unfinished announcement with this content to resume, else a new one; True when resumed."""
    markdown, html = html_parts(html_path)
    html_body = render_markdown(markdown) if markdown else html
    found = find_unfinished(subject, text, html_body, files)
    if found is not None:
        return found, True
    try:
        return create(subject, text, markdown=markdown, html=html, attachments=files), False
    except AnnouncementError as error:
        hint = {"text_body": "--text", "html_body": "--html", "attachments": "--attach"}
        raise click.BadParameter(error.message, param_hint=hint.get(error.field, "--subject")) from None


def fan_out(announcement_id: int, total: int, console: Console) -> announcements.FanOut:
    """Run the fan-out with a progress bar on the console."""
    columns = (TextColumn("Queueing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("fan-out", total=total)
        return announcements.send(announcement_id, progress=lambda n: progress.advance(task, n))


@click.command("broadcast")
@with_appcontext
@click.option("--subject", required=True, help="The subject line.")
@click.option("--text", "text_path", required=True, type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="The text body (UTF-8).")
@click.option("--html", "html_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The HTML body: a .md file is rendered from Markdown, any other file is used as HTML.")
@click.option("--attach", "attach_paths", multiple=True, type=click.Path(
              exists=True, dir_okay=False, path_type=Path), help="A file to attach (repeatable).")
def broadcast(subject: str, text_path: Path, html_path: Path | None,
              attach_paths: tuple[Path, ...]) -> None:
    """Send an announcement to every confirmed, subscribed user; re-running an interrupted one resumes it."""
    files = [read_attachment(path) for path in attach_paths]
    announcement, resumed = announcement_for(subject, read_text(text_path, "--text"), html_path, files)
    console = Console()
    verb = "Resuming" if resumed else "Sending"
    total = count_recipients()
    console.print(f"{verb} announcement #{announcement.id} to {total} recipient(s)")
    result = fan_out(announcement.id, total, console)
    unusable = f", {result.unusable} unusable address(es) skipped" if result.unusable else ""
    click.echo(f"announcement #{result.announcement_id}: {result.recipients} recipient(s), "
               f"{result.queued} queued now, {result.already_queued} already queued, "
               f"{result.not_eligible} user(s) skipped (unconfirmed or unsubscribed){unusable}")
