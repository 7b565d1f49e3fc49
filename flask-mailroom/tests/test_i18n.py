"""The package's own translations (domain flask_mailroom): a Flask-Babel host in Chinese sees the dev
mailbox in Chinese, a host without Flask-Babel sees English (flask_babel never imported), and the
shipped catalogues are complete and compiled."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

import flask_mailroom
from flask_mailroom import i18n

from support.i18n_apps import PACKAGE_LOCALES, deliver, host_catalogue, mailbox_host

CATALOGUES = Path(i18n.__file__).parent / "translations"
DISTRIBUTION = Path(flask_mailroom.__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\(\w+\)[sdif]|%[sdif]")
# The team's rule for Chinese: no space between a Chinese character (or full-width punctuation) and
# a number or placeholder beside it ("已检查%(num)d个链接", not "已检查 %(num)d 个链接").
HAN = r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]"
NUMBER = r"(?:\d+|%\(\w+\)[sdif])"
SPACED = re.compile(rf"{HAN} +{NUMBER}|{NUMBER} +{HAN}")
CHINESE = {
    "zh_Hans": {"Development mailbox": "开发邮箱", "Envelope from": "信封发件人",
                "Message deleted.": "邮件已删除。", "links": "已检查1个链接。", "bytes": "字节",
                "bounced (hard)": "退信（硬退信）", "lang": "zh-Hans"},
    "zh_Hant": {"Development mailbox": "開發信箱", "Envelope from": "信封寄件者",
                "Message deleted.": "郵件已刪除。", "links": "已檢查1個連結。", "bytes": "位元組",
                "bounced (hard)": "退信（硬退信）", "lang": "zh-Hant"},
}
ENGLISH = ("Development mailbox", "Delete all messages", "Search subject, addresses and body", "Received (")


def po(locale: str) -> Catalog:
    """The shipped .po catalogue of ``locale``."""
    with (CATALOGUES / locale / "LC_MESSAGES" / "flask_mailroom.po").open("rb") as handle:
        return read_po(handle, locale=locale)


def texts(catalogue: Catalog) -> dict[object, object]:
    """Each message id with its translation (the header left out; plurals as tuples)."""
    def frozen(value: object) -> object:
        """A plural's list as a tuple."""
        return tuple(value) if isinstance(value, list | tuple) else value

    return {frozen(message.id): frozen(message.string) for message in catalogue if message.id}


# --- a host with Flask-Babel ------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["zh_Hans", "zh_Hant"])
def test_a_flask_babel_host_in_chinese_sees_the_mailbox_in_chinese(tmp_path: Path, locale: str) -> None:
    words = CHINESE[locale]
    with mailbox_host(tmp_path, locale=locale) as app:
        mail_id = deliver(app)
        client = app.test_client()
        listing = client.get("/dev/mail").get_data(as_text=True)
        assert words["Development mailbox"] in listing
        assert f'<html lang="{words["lang"]}">' in listing
        for english in ENGLISH:
            assert english not in listing
        assert "<code>flask mail catcher</code>" in listing, "the command stays as typed"
        page = client.get(f"/dev/mail/{mail_id}").get_data(as_text=True)
        assert words["Envelope from"] in page
        assert words["bytes"] in page
        assert "Envelope from" not in page
        assert "bytes" not in page
        assert client.get(f"/dev/mail/{mail_id}/links").get_json()["message"] == words["links"]
        deleted = client.post(f"/dev/mail/{mail_id}/delete", follow_redirects=True).get_data(as_text=True)
        assert words["Message deleted."] in deleted


@pytest.mark.parametrize(("zone", "short"), [("UTC", "UTC"), ("Asia/Shanghai", "GMT+8"),
                                             ("Asia/Kolkata", "GMT+5:30"), ("America/Bogota", "GMT-5")])
def test_times_name_the_zone_short_as_the_app_does(tmp_path: Path, zone: str, short: str) -> None:
    with mailbox_host(tmp_path, locale="zh_Hans", BABEL_DEFAULT_TIMEZONE=zone) as app:
        mail_id = deliver(app)
        client = app.test_client()
        listing = client.get("/dev/mail").get_data(as_text=True)
        page = client.get(f"/dev/mail/{mail_id}").get_data(as_text=True)
        with app.test_request_context():
            winter = i18n.zoned(datetime(2026, 1, 15, 12, 0, tzinfo=UTC))
    assert f"接收时间（{short}）" in listing
    assert f"（{short}），经由" in page
    assert winter.endswith(f"（{short}）")
    assert "世界时" not in listing + page
    assert "标准时间" not in listing + page + winter


def test_the_source_is_english_inside_a_chinese_sentence(tmp_path: Path) -> None:
    with mailbox_host(tmp_path, locale="zh_Hant") as app:
        page = app.test_client().get(f"/dev/mail/{deliver(app)}").get_data(as_text=True)
    assert '經由<span translate="no" lang="en" id="devmail-source">catcher</span>' in page


@pytest.mark.parametrize("locale", ["zh_Hans", "zh_Hant"])
def test_timeline_labels_are_in_the_package_catalogue(tmp_path: Path, locale: str) -> None:
    with mailbox_host(tmp_path, locale=locale) as app, app.test_request_context():
        assert i18n.gettext("bounced (hard)") == CHINESE[locale]["bounced (hard)"]
        assert i18n.ngettext("%(num)d link checked.", "%(num)d links checked.", 1) == CHINESE[locale]["links"]


def test_timeline_details_read_in_chinese_around_a_servers_words(tmp_path: Path) -> None:
    from flask_mailroom.deliverability.timeline import ATTEMPT, REFUSED, Detail

    refused = Detail(REFUSED, (("reply", "accepted"), ("refused", "550 5.1.1 no such user")))
    attempt = Detail(ATTEMPT, (("num", "3"), ("error", "421 try later")))
    assert refused.english() == "accepted (refused: 550 5.1.1 no such user)"
    with mailbox_host(tmp_path, locale="zh_Hant") as app, app.test_request_context():
        kept = '<code translate="no" lang="en">550 5.1.1 no such user</code>'
        assert refused.html() == f"已接受（被拒絕：{kept}）"
        assert attempt.html() == '第3次嘗試：<code translate="no" lang="en">421 try later</code>'
    (tmp_path / "en").mkdir()
    with mailbox_host(tmp_path / "en", locale="en") as app, app.test_request_context():
        assert str(attempt.html()) == 'attempt 3: <code translate="no" lang="en">421 try later</code>'


def test_the_hosts_layout_keeps_the_hosts_translations(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "host.html").write_text(
        '<!doctype html><html><body><nav>{{ _("Host menu") }} · {% trans %}Host footer{% endtrans %}</nav>'
        "{% block content %}{% endblock %}{% block scripts %}{% endblock %}</body></html>")
    catalogue = host_catalogue(tmp_path / "host_translations", "zh_Hans",
                               {"Host menu": "主机菜单", "Host footer": "主机页脚", "Search": "主机的搜索"})
    with mailbox_host(tmp_path, locale="zh_Hans", translations=catalogue, template_folder=templates,
                      MAIL_DEV_MAILBOX_LAYOUT="host.html") as app:
        page = app.test_client().get("/dev/mail").get_data(as_text=True)
    assert "主机菜单" in page
    assert "主机页脚" in page
    assert ">搜索<" in page, "the mailbox's own strings come from its own domain"
    assert "主机的搜索" not in page


def test_a_flask_babel_host_in_english_reads_english(tmp_path: Path) -> None:
    with mailbox_host(tmp_path, locale="en") as app:
        mail_id = deliver(app)
        client = app.test_client()
        assert "Development mailbox" in client.get("/dev/mail").get_data(as_text=True)
        assert "Envelope from" in client.get(f"/dev/mail/{mail_id}").get_data(as_text=True)


# --- a host without Flask-Babel ---------------------------------------------------------------


def test_without_flask_babel_the_mailbox_reads_english(tmp_path: Path) -> None:
    with mailbox_host(tmp_path) as app:
        mail_id = deliver(app)
        client = app.test_client()
        listing = client.get("/dev/mail").get_data(as_text=True)
        assert "Development mailbox" in listing
        assert '<html lang="en">' in listing
        assert "Received (UTC)" in listing
        page = client.get(f"/dev/mail/{mail_id}").get_data(as_text=True)
        assert "Envelope from" in page
        assert "application/pdf, 1,242 bytes" in page
        assert client.get(f"/dev/mail/{mail_id}/links").get_json()["message"] == "1 link checked."
        with app.test_request_context():
            assert i18n.gettext("bounced (hard)") == "bounced (hard)"
            assert i18n.gettext("%(time)s (%(zone)s)", time="t", zone="UTC") == "t (UTC)"


SCRIPT = """
import sys
sys.modules["flask_babel"] = None  # not installed: importing it fails
import flask_mailroom, flask_mailroom.i18n, flask_mailroom.devmail.views, flask_mailroom.cli
from support.i18n_apps import deliver, mailbox_host
from pathlib import Path
with mailbox_host(Path(sys.argv[1])) as app:
    mail_id = deliver(app)
    client = app.test_client()
    assert client.get("/dev/mail").status_code == 200
    page = client.get(f"/dev/mail/{mail_id}").get_data(as_text=True)
    assert "Envelope from" in page, page
print("english without flask_babel")
"""


def test_without_flask_babel_installed_nothing_imports_it(tmp_path: Path) -> None:
    support = Path(__file__).parent
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True,
                            cwd=support, timeout=120, check=False,
                            env={"PYTHONPATH": str(support), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert "english without flask_babel" in result.stdout


# --- the shipped catalogues -------------------------------------------------------------------


@pytest.mark.parametrize("locale", PACKAGE_LOCALES)
def test_the_compiled_catalogues_are_shipped_and_current(tmp_path: Path, locale: str) -> None:
    source = CATALOGUES / locale / "LC_MESSAGES"
    shipped = source / "flask_mailroom.mo"
    assert shipped.is_file(), "run `make mail-translations`"
    (tmp_path / locale / "LC_MESSAGES").mkdir(parents=True)
    shutil.copy(source / "flask_mailroom.po", tmp_path / locale / "LC_MESSAGES" / "flask_mailroom.po")
    CommandLineInterface().run(["pybabel", "-q", "compile", "-D", "flask_mailroom", "-d", str(tmp_path)])
    fresh = tmp_path / locale / "LC_MESSAGES" / "flask_mailroom.mo"
    with shipped.open("rb") as old, fresh.open("rb") as new:
        assert texts(read_mo(old)) == texts(read_mo(new)), "run `make mail-translations`"


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """What `make mail-messages` extracts from the package now."""
    config = DISTRIBUTION / "babel.cfg"
    if not config.is_file():
        pytest.skip("the package's babel.cfg is in its source tree only")
    output = tmp_path_factory.mktemp("pot") / "flask_mailroom.pot"
    CommandLineInterface().run(["pybabel", "-q", "extract", "-F", str(config), "-o", str(output),
                                str(DISTRIBUTION / "src" / "flask_mailroom")])
    with output.open("rb") as handle:
        return read_po(handle)


def test_extraction_finds_the_mailbox_and_the_timeline(extracted: Catalog) -> None:
    found = {message.id for message in extracted if message.id}
    assert {"Development mailbox", "Message deleted.", "bounced (hard)", "waiting to retry"} <= found
    assert ("%(num)d link checked.", "%(num)d links checked.") in found


@pytest.mark.parametrize("locale", PACKAGE_LOCALES)
def test_every_extracted_string_is_in_each_catalogue(extracted: Catalog, locale: str) -> None:
    known = {message.id for message in po(locale) if message.id}
    missing = [message.id for message in extracted if message.id and message.id not in known]
    assert not missing, f"not in {locale} (make mail-messages, translate, make mail-translations): {missing}"


@pytest.mark.parametrize("locale", ["zh_Hans", "zh_Hant"])
def test_the_chinese_catalogues_are_translated_with_their_placeholders(locale: str) -> None:
    problems = []
    for message in po(locale):
        if not message.id:
            continue
        strings = list(message.string) if isinstance(message.string, tuple) else [message.string]
        source = message.id[-1] if isinstance(message.id, tuple) else message.id
        wanted = sorted(set(PLACEHOLDER.findall(source)))
        if message.fuzzy or not all(strings) or not re.search(r"[^\x00-\x7f]", "".join(strings)):
            problems.append(f"untranslated or fuzzy: {message.id!r}")
        problems += [f"{message.id!r}: {text!r}" for text in strings
                     if sorted(set(PLACEHOLDER.findall(text))) != wanted]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("locale", ["zh_Hans", "zh_Hant"])
def test_the_chinese_catalogues_put_no_space_around_numbers(locale: str) -> None:
    spaced = [text for message in po(locale) if message.id
              for text in (message.string if isinstance(message.string, tuple) else [message.string])
              if SPACED.search(text or "")]
    assert not spaced, "\n".join(spaced)
