"""Header encoding without an application: every value survives, no value can start a new header."""

from __future__ import annotations

from email.header import decode_header, make_header

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flask_mailroom import AddressInvalid
from flask_mailroom.compose.mime import (
    LINE,
    address_list,
    attachment_name,
    bare_address,
    content_type_parts,
    derived_boundary,
    display_name,
    envelope_form,
    header_address_spec,
    mailbox,
    unstructured,
)

# Header text as it reaches MIME rendering: anything but what check_envelope refuses as a line end.
LINE_ENDS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\x00"
header_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=LINE_ENDS),
                      min_size=1, max_size=400)


def unfold(value: str) -> str:
    """A folded header value as a reader sees it: CRLF followed by a space is just the space."""
    return value.replace("\r\n ", " ")


def decode(value: str) -> str:
    """What a mail reader shows for an encoded header value."""
    return str(make_header(decode_header(unfold(value))))


@given(header_text)
def test_unstructured_values_decode_to_exactly_what_was_given(text: str) -> None:
    encoded = unstructured("Subject", text)
    assert encoded.isascii()
    assert all("\r" not in line and "\n" not in line for line in encoded.split("\r\n "))
    shown = unfold(encoded) if "=?" not in encoded else decode(encoded)
    assert shown == text


@given(header_text)
def test_unstructured_lines_stay_short(text: str) -> None:
    lines = ("Subject: " + unstructured("Subject", text)).split("\r\n")
    assert max(len(line) for line in lines) <= 998


def test_plain_ascii_is_folded_at_spaces_and_left_readable() -> None:
    text = " ".join(["word"] * 60)
    folded = unstructured("Subject", text)
    assert "=?" not in folded
    assert max(len(line) for line in ("Subject: " + folded).split("\r\n")) <= LINE
    assert unfold(folded) == text


@pytest.mark.parametrize("text", ["=?utf-8?q?a=0D=0ABcc:_x@y?=", "price =?x?= tag", "é"])
def test_text_that_looks_encoded_or_is_not_ascii_is_encoded_itself(text: str) -> None:
    encoded = unstructured("Subject", text)
    assert encoded.startswith("=?utf-8?")
    assert decode(encoded) == text


@pytest.mark.parametrize(("name", "expected"), [
    ("Ann Smith", "Ann Smith"),
    ("Smith, Ann", '"Smith, Ann"'),
    ('Ann "the" Smith', '"Ann \\"the\\" Smith"'),
])
def test_ascii_display_names_are_plain_or_quoted(name: str, expected: str) -> None:
    assert display_name(name) == expected


def test_non_ascii_and_encoded_looking_names_are_encoded_words() -> None:
    for name in ("Zoë", "=?utf-8?q?Eve?="):
        encoded = display_name(name)
        assert encoded.startswith("=?utf-8?")
        assert decode(encoded) == name


@pytest.mark.parametrize(("given_address", "expected"), [
    ("ann@example.com", "ann@example.com"),
    ("=?utf-8?q?x?=@example.com", '"=?utf-8?q?x?="@example.com'),
    ('"a b"@example.com', '"a b"@example.com'),
    ("josé@example.com", "josé@example.com"),
])
def test_local_parts_that_could_be_misread_are_quoted(given_address: str, expected: str) -> None:
    assert header_address_spec(given_address) == expected


@pytest.mark.parametrize(("given_address", "expected"), [
    (("Ann", "ann@example.com"), "ann@example.com"),
    ("Ann <ann@example.com>", "ann@example.com"),
    ("user@bücher.example", "user@xn--bcher-kva.example"),
    ("user@[127.0.0.1]", "user@[127.0.0.1]"),
])
def test_envelope_addresses_are_bare_with_ascii_domains(given_address: str | tuple[str, str],
                                                        expected: str) -> None:
    assert bare_address(given_address) == expected


@pytest.mark.parametrize("bad", ["not an address", "a@example.com, b@example.com", "@example.com",
                                 "a@", "a@exa mple.com", "a@-example.com", "<a@example.com>x"])
def test_unusable_addresses_are_refused(bad: str) -> None:
    with pytest.raises(AddressInvalid):
        bare_address(bad)


def test_envelope_form_keeps_unicode_local_parts_for_smtputf8() -> None:
    assert envelope_form("用户@例子.广告") == "用户@" + "例子.广告".encode("idna").decode()


def test_mailboxes_and_lists() -> None:
    name, address = mailbox(("Zoë", "zoe@example.com")).split(" <")
    assert (decode(name), address) == ("Zoë", "zoe@example.com>")
    assert address_list("To", ["a@example.com", "b@example.com"]) == "a@example.com, b@example.com"
    many = address_list("To", [f"person{n}@example.com" for n in range(10)])
    assert all(len(line) <= LINE for line in ("To: " + many).split("\r\n"))
    assert unfold(many).split(", ") == [f"person{n}@example.com" for n in range(10)]


@pytest.mark.parametrize("mark", ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e"])
def test_a_value_that_would_split_into_lines_is_refused_at_the_last_step(mark: str) -> None:
    from email.message import EmailMessage

    from flask_mailroom import HeaderInjection
    from flask_mailroom.compose.mime import set_header

    with pytest.raises(HeaderInjection):
        set_header(EmailMessage(), "Subject", f"a{mark}Bcc: victim@example.com")


@pytest.mark.parametrize(("content_type", "expected"), [
    ("application/pdf", ("application", "pdf", {})),
    ("Text/Plain; charset=UTF-8", ("text", "plain", {"charset": "UTF-8"})),
    ('text/plain; name="=?utf-8?q?x?="', ("text", "plain", {})),
    ("nonsense", ("application", "octet-stream", {})),
    ("text/plain\r\nX-Evil: 1", ("application", "octet-stream", {})),
])
def test_content_types_keep_only_safe_parts(content_type: str,
                                            expected: tuple[str, str, dict[str, str]]) -> None:
    assert content_type_parts(content_type) == expected


def test_attachment_names_are_rfc2231_unless_plain_ascii() -> None:
    assert attachment_name("report.pdf", ascii_only=False) == "report.pdf"
    assert attachment_name("résumé.pdf", ascii_only=False) == ("utf-8", "", "résumé.pdf")
    assert attachment_name("=?utf-8?q?x?=.txt", ascii_only=False) == ("utf-8", "", "=?utf-8?q?x?=.txt")
    assert attachment_name("résumé  final.pdf", ascii_only=True) == "resume final.pdf"


def test_a_derived_boundary_is_stable_and_avoids_the_parts_text() -> None:
    first = derived_boundary("<a@mailroom.test>", 0, [])
    assert first == derived_boundary("<a@mailroom.test>", 0, ["unrelated text"])
    assert first != derived_boundary("<b@mailroom.test>", 0, [])
    assert first != derived_boundary("<a@mailroom.test>", 1, [])
    avoided = derived_boundary("<a@mailroom.test>", 0, [f"a line\r\n--{first}\r\n"])
    assert avoided != first
    assert avoided == derived_boundary("<a@mailroom.test>", 0, [f"--{first}--"])
