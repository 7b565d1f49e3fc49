"""The journey a person takes, in Chromium, with a screenshot per step.

register -> type the code emailed to the address -> sign out -> "Forgot your password?" ->
open the emailed link -> set a new password -> sign in -> change the address by code ("Send
code", AJAX) -> the old address's notice -> its revert link. The emails are read from wherever
the deployment delivers them: the provider's SMTP server, or the development mailbox pages.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from playwright.sync_api import Browser, Page, expect

from tests.e2e.deploy.processes import wait_until
from tests.e2e.deploy.provider import MailProvider

CODE = re.compile(r"^\s+([2-9A-Z]{6})\s*$", re.MULTILINE)
TIMEOUT_MS = 15_000


@dataclass(frozen=True)
class Email:
    """A delivered email as the person reads it."""

    subject: str
    text: str

    def code(self) -> str:
        """The six-character code in the email."""
        found = CODE.search(self.text)
        assert found, f"no code in {self.subject!r}:\n{self.text}"
        return found.group(1)

    def link(self, path: str) -> str:
        """The absolute link in the email whose path starts with ``path``."""
        found = re.search(r"https?://[^\s/]+" + re.escape(path) + r"[^\s<>\"]+", self.text)
        assert found, f"no {path} link in {self.subject!r}:\n{self.text}"
        return found.group(0)


class Inbox(Protocol):
    """Where the journey reads its emails."""

    def mark(self) -> int:
        """A position: emails read later must have arrived after it."""
        ...

    def read(self, journey: Journey, address: str, subject: str, since: int) -> Email:
        """Open the first email to ``address`` about ``subject`` after ``since``, with a screenshot."""
        ...


@dataclass
class ProviderInbox:
    """The provider's SMTP server: each email is shown in a tab of its own, as a mail client would."""

    provider: MailProvider

    def mark(self) -> int:
        """How many messages the provider holds now."""
        return self.provider.count()

    def read(self, journey: Journey, address: str, subject: str, since: int) -> Email:
        """Wait for the message, render its HTML part in a tab, screenshot it."""
        message = self.provider.wait_for(address, subject, since)
        tab = journey.page.context.new_page()
        try:
            tab.set_content(envelope_banner(message.message) + message.html())
            journey.shot(f"email {subject}", tab)
        finally:
            tab.close()
        return Email(message.subject, message.text())


def envelope_banner(message: Any) -> str:
    """The headers a mail client shows above a message, as HTML."""
    rows = "".join(f"<div><b>{name}:</b> {html.escape(str(message.get(name, '')))}</div>"
                   for name in ("From", "To", "Subject", "Date", "Message-ID"))
    return (f'<div style="font:14px sans-serif;background:#eef;padding:8px;'
            f'border-bottom:1px solid #99a">{rows}</div>')


@dataclass
class DevMailInbox:
    """The development mailbox at /dev/mail, read in the browser like a developer does."""

    base_url: str

    def mark(self) -> int:
        """The newest message id listed now (0 when empty)."""
        with urllib.request.urlopen(self.base_url + "/dev/mail") as reply:  # noqa: S310 (loopback)
            ids = [int(n) for n in re.findall(r'id="devmail-(\d+)"', reply.read().decode())]
        return max(ids, default=0)

    def read(self, journey: Journey, address: str, subject: str, since: int) -> Email:
        """In a second tab, reload the list until the message is there, open it, show its text."""
        tab = journey.page.context.new_page()
        try:
            return self._read(journey, tab, address, subject, since)
        finally:
            tab.close()

    def _read(self, journey: Journey, tab: Page, address: str, subject: str, since: int) -> Email:
        """The steps of ``read`` in the given tab."""
        row = tab.locator("#devmail-list tbody tr").filter(has_text=subject).filter(has_text=address)

        def listed() -> int:
            """The id of the newest matching row after ``since``, once it is listed."""
            tab.goto(self.base_url + "/dev/mail")
            ids = [int(str(row.nth(i).get_attribute("id")).split("-")[1]) for i in range(row.count())]
            return max((n for n in ids if n > since), default=0)

        mail_id = wait_until(listed, 30, f"{subject!r} to {address} in /dev/mail")
        journey.shot(f"dev mailbox lists {subject}", tab)
        tab.click(f"#devmail-{mail_id} a")
        expect(tab.locator("#devmail-subject")).to_contain_text(subject, ignore_case=True)
        journey.shot(f"email {subject}", tab)
        tab.click("#tab-text")
        text = tab.locator("#devmail-text")
        expect(text).to_be_visible()
        return Email(tab.locator("#devmail-subject").inner_text(), text.text_content() or "")


@dataclass
class Person:
    """Who walks the journey."""

    username: str
    email: str
    new_email: str
    password: str
    new_password: str


@dataclass
class Journey:
    """A browser tab on one site, the inbox it reads, and the screenshots it takes."""

    browser: Browser
    base_url: str
    inbox: Inbox
    folder: Path
    page: Page = field(init=False)
    steps: list[str] = field(default_factory=list)
    shots: list[Path] = field(default_factory=list)
    target: Path = field(init=False)
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # This run's screenshots go to a folder of its own and replace ``folder`` at the end, so
        # two runs in one working tree never delete each other's pictures mid-journey.
        self.target = self.folder
        self.folder = self.folder.with_name(f".{self.folder.name}-{os.getpid()}")
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        context = self.browser.new_context(base_url=self.base_url, viewport={"width": 1100, "height": 800})
        context.set_default_timeout(TIMEOUT_MS)
        self.page = context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))

    def _console(self, message: Any) -> None:
        """Keep script errors and CSP violations (HTTP statuses are asserted by the steps)."""
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(f"console: {message.text}")

    def shot(self, name: str, page: Page | None = None) -> Path:
        """A full-page screenshot named after the step."""
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60]
        path = self.folder / f"{len(self.steps) + 1:02d}-{slug}.png"
        (page or self.page).screenshot(path=str(path), full_page=True)
        self.steps.append(name)
        self.shots.append(path)
        return path

    def saved(self) -> int:
        """How many of the step screenshots are on disk and not empty."""
        return sum(1 for path in self.shots if path.is_file() and path.stat().st_size > 0)

    def close(self) -> None:
        """Close the browser context and publish the screenshots under the journey's folder."""
        self.page.context.close()
        shutil.rmtree(self.target, ignore_errors=True)
        self.folder.rename(self.target)
        self.shots = [self.target / path.name for path in self.shots]
        self.folder = self.target

    # --- the steps ------------------------------------------------------------------------------

    def walk(self, who: Person) -> None:
        """Every step of the journey, in order."""
        since = self.inbox.mark()
        self.register(who, since)
        self.sign_out()
        self.reset_password(who)
        self.sign_in(who.email, who.new_password)
        since = self.inbox.mark()
        self.change_address(who, since)
        self.revert_from_old_address(who, since)
        assert not self.problems, self.problems

    def register(self, who: Person, since: int) -> None:
        """From the home page, register, then type the code emailed to the address."""
        page = self.page
        page.goto("/")
        self.shot("home page")
        page.click("main >> text=Register")
        page.fill("#username", who.username)
        page.fill("#email", who.email)
        page.fill("#password", who.password)
        page.fill("#password2", who.password)
        self.shot("registration form filled in")
        page.click("#submit")
        page.wait_for_url("**/auth/register/code")
        expect(page.locator("#register-sent")).to_contain_text(who.email)
        self.shot("asked for the emailed code")
        email = self.inbox.read(self, who.email, "Your code to finish registering at Mailroom", since)
        page.fill("#code", email.code().lower())
        self.shot("registration code typed")
        page.click("#submit")
        page.wait_for_url("**/account/")
        expect(page.locator("#email-status")).to_have_text("confirmed")
        expect(page.locator("#unconfirmed-banner")).to_have_count(0)
        self.shot("registered, address confirmed")

    def sign_out(self) -> None:
        """Press "Sign out"."""
        self.page.click("#sign-out")
        expect(self.page.locator("nav >> text=Sign in")).to_be_visible()
        self.shot("signed out")

    def reset_password(self, who: Person) -> None:
        """Forgot your password? -> the emailed link -> a new password."""
        page = self.page
        page.goto("/auth/login")
        self.shot("sign-in page")
        since = self.inbox.mark()
        page.click("#forgot-password")
        page.wait_for_url("**/auth/reset_password_request")
        page.fill("#email", who.email)
        self.shot("forgot password form filled in")
        page.click("#submit")
        page.wait_for_url("**/auth/reset_password/sent")
        expect(page.locator("#reset-sent")).to_contain_text(f"If an account uses {who.email}")
        self.shot("told to check the inbox")
        email = self.inbox.read(self, who.email, "Reset your Mailroom password", since)
        page.goto(email.link("/auth/reset_password/"))
        expect(page.locator("h1")).to_have_text("Choose a new password")
        page.fill("#password", who.new_password)
        page.fill("#password2", who.new_password)
        self.shot("new password typed")
        page.click("#submit")
        page.wait_for_url("**/auth/login")
        expect(page.locator(".alert-success")).to_contain_text("Your password has been changed")
        self.shot("password changed")

    def sign_in(self, identifier: str, password: str) -> None:
        """Sign in through the form."""
        page = self.page
        page.goto("/auth/login")
        page.fill("#identifier", identifier)
        page.fill("#password", password)
        self.shot("signing in with the new password")
        page.click("#submit")
        expect(page.locator("#nav-user")).to_be_visible()
        self.shot("signed in")

    def change_address(self, who: Person, since: int) -> None:
        """"Send code" (AJAX), then the code from the email to the new address."""
        page = self.page
        page.goto("/account/")
        page.fill("#send-code-form #email", who.new_email)
        page.fill("#send-code-form #password", who.new_password)
        self.shot("new address and password typed")
        with page.expect_response("**/account/email/code") as reply:
            page.click("#send-code")
        assert reply.value.status == 200, reply.value.text()
        assert reply.value.request.header_value("x-csrftoken")
        expect(page.locator("#change-state")).to_contain_text(f"We sent a code to {who.new_email}")
        self.shot("code sent by AJAX")
        email = self.inbox.read(self, who.new_email, "Your Mailroom verification code", since)
        page.fill("#change-code", email.code())
        with page.expect_response("**/account/email") as changed:
            page.click("#change-email-submit")
        assert changed.value.status == 200, changed.value.text()
        expect(page.locator("#account-email")).to_have_text(who.new_email)
        self.shot("address changed on screen")

    def revert_from_old_address(self, who: Person, since: int) -> None:
        """The notice to the old address, and its link that puts the old address back."""
        page = self.page
        email = self.inbox.read(self, who.email, "Your Mailroom email address was changed", since)
        assert who.new_email in email.text
        page.goto(email.link("/account/email/revert/"))
        expect(page.locator("#revert-old-email")).to_have_text(who.email)
        self.shot("revert page: nothing changed yet")
        page.click("#revert-submit")
        expect(page.locator(".alert-success")).to_contain_text(f"Your address is {who.email} again")
        expect(page.locator("nav >> text=Sign in")).to_be_visible()
        self.shot("old address back, every session signed out")
        page.goto("/auth/login")
        page.fill("#identifier", who.email)
        page.fill("#password", who.new_password)
        page.click("#submit")
        expect(page.locator("#password-error")).to_be_visible()
        self.shot("the password from before the revert no longer works")
