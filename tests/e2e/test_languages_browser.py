"""Languages in Chromium: the menu, the account page, registering from a Taiwanese browser, and every
page a Chinese reader reaches showing no English, its countdowns included after they tick."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask_babel import force_locale
from playwright.sync_api import Browser, Page, expect

from mailroom.domain.languages import HTML_LANG
from mailroom.extensions import db
from mailroom.i18n import wait
from mailroom.models import User
from tests.e2e.conftest import LiveServer
from tests.support.accounts import without_browser_check
from tests.support.crawl import SCRIPT_TEXT, SHOWN_ATTRIBUTES, latin_left
from tests.support.languages import PASSWORD, add_speaker, user_named
from tests.support.pages import sign_in

CODE_LINE = re.compile(r"^ {4}([A-Z2-9]{6})\r?$", re.MULTILINE)


def test_the_menu_switches_a_visitors_language(page: Page, live_server: LiveServer,
                                               screenshot: Callable[[Page, str], Path],
                                               console_errors: list[str]) -> None:
    page.goto(live_server.url("/auth/login"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Sign in")
    page.click("#language-toggle")
    page.click("#language-zh_Hant")
    expect(page).to_have_url(live_server.url("/auth/login"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hant")
    expect(page.locator("h1")).to_have_text("登入")
    expect(page.locator("label[for=identifier]")).to_have_text("使用者名稱或電子郵件")
    screenshot(page, "sign-in page in Traditional Chinese")
    page.goto(live_server.url("/auth/register"))
    expect(page.locator("h1")).to_have_text("註冊")  # the cookie keeps the choice
    assert console_errors == []


def test_registering_from_a_taiwanese_browser_stores_zh_hant(
        browser: Browser, live_server: LiveServer, screenshot: Callable[[Page, str], Path],
        mail_to: Callable[..., list[Any]]) -> None:
    context = browser.new_context(locale="zh-TW", timezone_id="Asia/Taipei")
    page = context.new_page()
    try:
        page.goto(live_server.url("/auth/register"))
        expect(page.locator("html")).to_have_attribute("lang", "zh-Hant")
        page.fill("#username", "陳大文")
        page.fill("#email", "tai@example.com")
        page.fill("#password", PASSWORD)
        page.fill("#password2", PASSWORD)
        screenshot(page, "registration form from a zh-TW browser")
        page.click("#submit")
        expect(page.locator("h1")).to_have_text("請查看您的電子郵件")
        [mail] = mail_to("tai@example.com")
        assert mail.message["Subject"] == "您的 Mailroom 註冊驗證碼"
        found = CODE_LINE.search(mail.text())
        assert found is not None
        page.fill("#code", found.group(1))
        page.click("#submit")
        expect(page.locator("#account-username")).to_have_text("陳大文")
        expect(page.locator("h1")).to_have_text("您的帳號")
        user = user_named(live_server.app, "陳大文")
        assert (user.language, user.timezone) == ("zh_Hant", "Asia/Taipei")

        page.select_option("#language-select", "zh_Hans")
        page.select_option("#timezone-select", "Asia/Shanghai")
        page.click("#language-submit")
        expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
        expect(page.locator("h1")).to_have_text("您的账号")
        screenshot(page, "account page after choosing Simplified Chinese")
        user = user_named(live_server.app, "陳大文")
        assert (user.language, user.timezone) == ("zh_Hans", "Asia/Shanghai")

        page.click("#language-toggle")
        page.click("#language-en")
        expect(page.locator("h1")).to_have_text("Your account")
        assert user_named(live_server.app, "陳大文").language == "en"
    finally:
        context.close()


# The page's own text as a person reads it after its scripts ran (code, other-language and
# translate="no" parts left out, as tests/support/crawl.py does for served pages), and its ids.
READ_PAGE = """([attributes, scriptText]) => {
  const skipped = "script, style, pre, code, textarea, svg, option, iframe, kbd, samp, [translate='no']";
  const scripted = new RegExp(scriptText);
  const shown = name => attributes.includes(name) || scripted.test(name);
  const own = el => !el.closest(skipped) &&
    !(el.closest("[lang]") && el.closest("[lang]") !== document.documentElement &&
      !el.closest("[lang]").getAttribute("lang").startsWith("zh"));
  const segments = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const text = walker.currentNode.textContent.replace(/\\s+/g, " ").trim();
    if (text && own(walker.currentNode.parentElement)) { segments.push(text); }
  }
  document.querySelectorAll("*").forEach(el => {
    if (!own(el)) { return; }
    [...el.attributes].forEach(a => { if (a.value && shown(a.name)) { segments.push(a.value); } });
    if (el.matches("input[type=submit], input[type=button]") && el.value) { segments.push(el.value); }
  });
  const ids = [...document.querySelectorAll("[id]")].map(el => el.id);
  const links = [...document.querySelectorAll("a[href]")].map(a => a.href);
  return {segments, ids, links};
}"""
# Every wait of a list in the script's words, for a given <html lang>, with or without DurationFormat.
WAITS_IN = """({lang, fallback, seconds}) => {
  const root = document.documentElement, page = root.lang, kept = Intl.DurationFormat;
  root.lang = lang;
  if (fallback) { Intl.DurationFormat = undefined; }
  try { return seconds.map(s => window.MailroomWaits.format(s)); }
  finally { root.lang = page; Intl.DurationFormat = kept; }
}"""
LANGUAGE_OF_BROWSER = {"zh_Hans": "zh-CN", "zh_Hant": "zh-TW"}
WAITS = [0, 1, 35, 59, 60, 61, 599, 600, 3599, 3600, 3661]


def read_in_browser(page: Page, data: tuple[str, ...]) -> tuple[set[str], set[str], list[str]]:
    """What the page shows in Latin letters outside data, its repeated ids, and its links."""
    found = page.evaluate(READ_PAGE, [list(SHOWN_ATTRIBUTES), SCRIPT_TEXT.pattern])
    ids = found["ids"]
    return latin_left(found["segments"], data), {i for i in ids if ids.count(i) > 1}, found["links"]


def browse(page: Page, live_server: LiveServer, start: list[str], data: tuple[str, ...],
           limit: int = 30) -> dict[str, Any]:
    """Visit every same-site page linked from ``start``; on each, let its clock run 3 s so countdowns
    tick, then read it. The problems found, by page (at least ``start`` must have been read)."""
    problems: dict[str, Any] = {}
    queue, seen = list(start), set()
    while queue and len(seen) < limit:
        path = queue.pop(0)
        if path in seen or path.startswith(("/static/", "/bootstrap/")) or path.endswith((".html", "/raw")):
            continue
        seen.add(path)
        page.goto(live_server.url(path))
        page.clock.run_for("00:03")
        latin, twice, links = read_in_browser(page, data)
        if latin or twice:
            problems[path] = {"latin": sorted(latin), "repeated ids": sorted(twice)}
        base = live_server.base_url
        queue += [urlsplit(link).path for link in links if link.startswith(base + "/")]
    assert set(start) <= seen, f"not reached: {set(start) - seen}"
    return problems


@pytest.mark.parametrize("language", ["zh_Hans", "zh_Hant"])
def test_chinese_pages_keep_to_chinese_after_their_waits_tick(
        browser: Browser, live_server: LiveServer, language: str,
        screenshot: Callable[[Page, str], Path]) -> None:
    app = live_server.app
    member = add_speaker(app, "小明", "xiaoming@example.com", language, "Asia/Taipei")
    admin = add_speaker(app, "管理员", "admin@example.com", language, "Asia/Taipei")
    with app.app_context():
        user, root = db.session.get(User, member), db.session.get(User, admin)
        assert user is not None
        assert root is not None
        user.email_confirmed = False
        root.is_admin = True
        db.session.commit()
    without_browser_check(app, "admin@example.com")
    data = ("小明", "xiaoming@example.com", "管理员", "admin@example.com")
    context = browser.new_context(locale=LANGUAGE_OF_BROWSER[language], timezone_id="Asia/Taipei")
    page = context.new_page()
    try:
        page.clock.install()
        # A visitor asks for a sign-in code: the code page counts down its expiry and its resend wait.
        page.goto(live_server.url("/auth/login/email"))
        page.fill("#email", "xiaoming@example.com")
        page.click("#submit")
        expect(page).to_have_url(live_server.url("/auth/login/code"))
        ticking = page.locator("#signin-code-resend-wait")
        before = ticking.inner_text()
        page.clock.run_for("00:05")
        expect(ticking).not_to_have_text(before)
        screenshot(page, f"sign-in code page in {language}, 5 s later")
        problems = {"visitor": browse(page, live_server, ["/auth/login/code", "/"], data)}

        # The member's account page counts down a confirmation code and its resend wait.
        sign_in(page, live_server.base_url, "小明", PASSWORD)
        page.goto(live_server.url("/account/"))
        page.click("#resend-confirmation")
        expect(page.locator("#confirm-expiry")).to_be_visible()
        page.clock.run_for("00:07")
        screenshot(page, f"account page in {language}, 7 s later")
        problems["member"] = browse(page, live_server, ["/account/", "/"], data)
        page.click("#sign-out")

        # An admin's pages: the dashboard and announcements are followed live by their scripts.
        sign_in(page, live_server.base_url, "管理员", PASSWORD)
        problems["admin"] = browse(page, live_server, ["/admin/", "/admin/dashboard"], data)

        # The script words every wait as the server does, in each language, with Intl.DurationFormat
        # and without it (older browsers), so the first render and the ticks agree.
        for locale, lang in HTML_LANG.items():
            for fallback in (False, True):
                scripted = page.evaluate(WAITS_IN, {"lang": lang, "fallback": fallback, "seconds": WAITS})
                with app.test_request_context(), force_locale(locale):
                    assert scripted == [wait(seconds) for seconds in WAITS], (locale, fallback)
        assert not any(problems.values()), problems
    finally:
        context.close()
