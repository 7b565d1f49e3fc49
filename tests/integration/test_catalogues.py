"""The shipped catalogues are complete: every string the code and templates use is translated into
both Chinese catalogues, placeholders intact, nothing fuzzy, and the compiled .mo files are current."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po
from babel.support import Translations

import mailroom

PACKAGE = Path(mailroom.__file__).parent
ROOT = PACKAGE.parent.parent
CATALOGUES = PACKAGE / "translations"
LOCALES = ("zh_Hans", "zh_Hant")
# The same keywords as `make messages` (checked against the Makefile below).
KEYWORDS = ("_l", "lazy_gettext", "N_", "Nn_:1,2", "_n:1,2")
PLACEHOLDER = re.compile(r"%\(\w+\)[sdif]|%[sdif]")
LATIN_WORDS = re.compile(r"[A-Za-z]{4,}")
# Words that stay in Latin letters in Chinese text: names, protocols, code.
KEPT_WORDS = {"Mailroom", "CSRF", "flask", "mail", "send", "test", "code", "strong", "href", "site_url",
              "request_link", "account_url", "unsubscribe_url", "when", "time", "zone", "lifetime",
              "name", "username", "email", "old_email", "new_email", "address", "count", "interval",
              "reason", "values", "other_name"}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """What `pybabel extract` finds in the package now."""
    output = tmp_path_factory.mktemp("pot") / "messages.pot"
    arguments = ["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"), "-o", str(output)]
    for keyword in KEYWORDS:
        arguments += ["-k", keyword]
    CommandLineInterface().run([*arguments, str(PACKAGE)])
    with output.open("rb") as handle:
        return read_po(handle)


def catalogue(locale: str) -> Catalog:
    """The .po catalogue of one locale."""
    with (CATALOGUES / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=locale)


def strings(message: Message) -> list[str]:
    """The translations of a message (one per plural form)."""
    return list(message.string) if isinstance(message.string, tuple) else [message.string or ""]


def ids(message: Message) -> list[str]:
    """The msgid and, for plurals, the plural msgid."""
    return list(message.id) if isinstance(message.id, tuple) else [str(message.id)]


def test_the_makefile_extracts_with_the_same_keywords() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for keyword in KEYWORDS:
        assert f"-k {keyword}" in makefile


def test_extraction_finds_strings_at_all(extracted: Catalog) -> None:
    found = {message.id for message in extracted if message.id}
    assert "Reset your Mailroom password" in found  # an email subject, from its template
    assert "This field is required." in found  # WTForms' own message
    assert len(found) > 100


@pytest.mark.parametrize("locale", LOCALES)
def test_every_extracted_string_is_in_the_catalogue(extracted: Catalog, locale: str) -> None:
    known = {message.id for message in catalogue(locale) if message.id}
    missing = [message.id for message in extracted if message.id and message.id not in known]
    assert not missing, f"not in {locale} (run `make messages`, translate, `make translations`): {missing}"


@pytest.mark.parametrize("locale", LOCALES)
def test_every_entry_is_translated_and_not_fuzzy(locale: str) -> None:
    problems = []
    for message in catalogue(locale):
        if not message.id:
            continue
        if message.fuzzy:
            problems.append(f"fuzzy: {message.id!r}")
        if not all(text.strip() for text in strings(message)):
            problems.append(f"untranslated: {message.id!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("locale", LOCALES)
def test_placeholders_match(locale: str) -> None:
    problems = []
    for message in catalogue(locale):
        if not message.id:
            continue
        wanted = sorted(set(PLACEHOLDER.findall(ids(message)[-1])))
        for text in strings(message):
            if sorted(set(PLACEHOLDER.findall(text))) != wanted:
                problems.append(f"{message.id!r}: {wanted} vs {text!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("locale", LOCALES)
def test_translations_are_chinese_not_copied_english(locale: str) -> None:
    copied = []
    for message in catalogue(locale):
        if not message.id:
            continue
        for text in strings(message):
            bare = PLACEHOLDER.sub("", re.sub(r"<[^>]+>", "", text))
            words = set(LATIN_WORDS.findall(bare)) - KEPT_WORDS
            if words and not re.search(r"[\u4e00-\u9fff]", bare):
                copied.append(f"{message.id!r} -> {text!r}")
    assert not copied, "\n".join(copied)


def test_the_two_chinese_catalogues_are_written_for_their_readers() -> None:
    simplified, traditional = catalogue("zh_Hans"), catalogue("zh_Hant")
    for msgid, hans, hant in (("Password", "密码", "密碼"), ("Sign in", "登录", "登入"),
                              ("Email", "电子邮件", "電子郵件")):
        assert hans in strings(simplified[msgid])[0]
        assert hant in strings(traditional[msgid])[0]
    subject = "Reset your Mailroom password"
    assert "账号" not in strings(traditional[subject])[0]
    different = sum(1 for m in simplified if m.id and strings(m) != strings(traditional[m.id]))
    assert different > 0.8 * len([m for m in simplified if m.id])


@pytest.mark.parametrize("locale", LOCALES)
def test_the_compiled_catalogue_is_current(locale: str) -> None:
    compiled = Translations.load(str(CATALOGUES), [locale])
    assert isinstance(compiled, Translations)
    stale = []
    for message in catalogue(locale):
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            got = compiled.ungettext(message.id[0], message.id[1], 2)
        else:
            got = compiled.ugettext(message.id)
        if got != strings(message)[0]:
            stale.append(str(ids(message)[0]))
    assert not stale, f"run `make translations`: {stale}"
